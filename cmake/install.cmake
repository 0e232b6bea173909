# Installation: the shared library (with soname), libnumaheap.a, the public header, the CLI,
# the man pages, numaheap.pc for pkg-config and a CMake package with the imported targets
# numaheap::numaheap and numaheap::numaheap_static. Included from the top-level CMakeLists.txt
# after the targets are defined. Also makes the same target names work under add_subdirectory.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Usage requirements, so consumers (in the build tree or installed) get the header directory
# and, for the static archive, the libraries its objects and the embedded jemalloc call into.
foreach(t numaheap numaheap_static)
  target_include_directories(${t} INTERFACE $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                             $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
endforeach()
# What a static link needs, found by linking (nm -u libnumaheap.a): pthread_*, dlsym, and
# exp/log/round for the embedded jemalloc. No C++ runtime: the operators reach it weakly.
set(NH_STATIC_LIBS ${CMAKE_DL_LIBS})
if(NH_ENGINE STREQUAL "jemalloc")
  list(PREPEND NH_STATIC_LIBS m)
endif()
target_link_libraries(numaheap_static INTERFACE ${NH_STATIC_LIBS} Threads::Threads)
set_target_properties(numaheap_static PROPERTIES EXPORT_NAME numaheap_static)
add_library(numaheap::numaheap ALIAS numaheap)
add_library(numaheap::numaheap_static ALIAS numaheap_static)

# The installed CLI finds the installed library (and preloads that one in `numaheap run`);
# no RPATH where the library lands in a system directory (a prefix of /usr).
if(NOT CMAKE_INSTALL_FULL_LIBDIR IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
  file(RELATIVE_PATH NH_BIN_TO_LIB ${CMAKE_INSTALL_FULL_BINDIR} ${CMAKE_INSTALL_FULL_LIBDIR})
  set_target_properties(numaheap-cli PROPERTIES INSTALL_RPATH "$ORIGIN/${NH_BIN_TO_LIB}")
endif()

install(TARGETS numaheap numaheap_static EXPORT numaheapTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT Development
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development)
install(TARGETS numaheap-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/include/numaheap.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT Development)
install(FILES ${PROJECT_SOURCE_DIR}/docs/numaheap.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/numaheap.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3
        COMPONENT Development)

# numaheap.pc, written at install time so its paths are those of the prefix actually used
# (cmake --install --prefix P may differ from the configured CMAKE_INSTALL_PREFIX).
set(NH_PC_LIBS_PRIVATE "")
foreach(l ${NH_STATIC_LIBS} pthread)
  string(APPEND NH_PC_LIBS_PRIVATE " -l${l}")
endforeach()
string(STRIP "${NH_PC_LIBS_PRIVATE}" NH_PC_LIBS_PRIVATE)
set(NH_PC_OUT ${PROJECT_BINARY_DIR}/install/numaheap.pc)
install(CODE "
  set(NH_PC_VERSION \"${PROJECT_VERSION}\")
  set(NH_PC_LIBS_PRIVATE \"${NH_PC_LIBS_PRIVATE}\")
  set(NH_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  foreach(pair \"LIBDIR;${CMAKE_INSTALL_LIBDIR}\" \"INCLUDEDIR;${CMAKE_INSTALL_INCLUDEDIR}\")
    list(GET pair 0 name)
    list(GET pair 1 dir)
    if(IS_ABSOLUTE \"\${dir}\")
      set(NH_PC_\${name} \"\${dir}\")
    else()
      set(NH_PC_\${name} \"\\\${prefix}/\${dir}\")
    endif()
  endforeach()
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/numaheap.pc.in\" \"${NH_PC_OUT}\" @ONLY)
" COMPONENT Development)
install(FILES ${NH_PC_OUT} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT Development)

# The CMake package: find_package(numaheap) gives numaheap::numaheap and numaheap::numaheap_static.
set(NH_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/numaheap)
install(EXPORT numaheapTargets NAMESPACE numaheap:: DESTINATION ${NH_CMAKE_DIR}
        COMPONENT Development)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/numaheapConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/numaheapConfig.cmake INSTALL_DESTINATION ${NH_CMAKE_DIR})
# 0.x: minor versions may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/install/numaheapConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/install/numaheapConfig.cmake
        ${PROJECT_BINARY_DIR}/install/numaheapConfigVersion.cmake DESTINATION ${NH_CMAKE_DIR}
        COMPONENT Development)
