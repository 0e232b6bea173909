#!/usr/bin/env bash
# The NUMA lab: boots real Debian kernels in QEMU (TCG) with several NUMA nodes and runs the
# placement suite and the locality benchmark inside, reading results from the serial console.
#
#   tests/lab/lab.sh [T2|T4|T8 ...]   all topologies by default
#   NH_LAB_BUILD=build                the build tree holding the lab programs (built if missing)
#   NH_JOBS=1                         parallel jobs of that build (default: CPUs)
#   NH_LAB_KEEP=1                     keep the guest root tree (build/lab/root) for inspection
#   NH_LAB_T2_APPEND="nhthp=never"    extra kernel arguments for T2 (nhthp=never|madvise sets the
#                                     guest's transparent huge pages before the tests)
#   NH_LAB_SHELL=1 tests/lab/lab.sh T4   boot one guest to an interactive shell on this terminal
#                                     (then: cd /lab && ./lab_placement; poweroff -f to leave)
#
# Topologies:
#   T2  kernel 6.1, 2 nodes x 512 MiB, 1 CPU each, HMAT bandwidths 30 and 10 GB/s
#   T4  kernel 6.12 (bookworm-backports), nodes 0-2 with a CPU each, node 2 small (256 MiB),
#       node 3 memory-only (like CXL), SLIT distances set; weighted interleave weights 3:1
#   T8  kernel 6.12, 8 nodes x 256 MiB in two sockets of four: nodes 0-3 with a CPU each, 4-7
#       memory-only; distances in two tiers, 21 within a socket and 31 across
#
# Exits non-zero when a guest test fails or a result line is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
build=${NH_LAB_BUILD:-build}
lab=$build/lab
cache=$build/lab-cache
mkdir -p "$lab" "$cache"
topologies=("$@")
[[ ${#topologies[@]} -gt 0 ]] || topologies=(T2 T4 T8)

scripts/deps.sh --lab
if [[ ! -x $build/tests/lab/lab_placement ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j"${NH_JOBS:-$(nproc)}" --target numaheap numaheap-cli lab_placement lab_probe \
    lab_locality >/dev/null

# ---- kernels, downloaded once into the build tree ---------------------------------------------
fetch_kernel() { # fetch_kernel PACKAGE [apt-get download options] -> path of vmlinuz
    local pkg=$1
    shift
    local dir=$cache/$pkg
    if [[ ! -f $dir/vmlinuz ]]; then
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && apt-get download -q "$@" "$pkg" >/dev/null 2>&1 &&
            dpkg -x ./*.deb x && cp x/boot/vmlinuz-* vmlinuz && rm -rf x ./*.deb)
    fi
    echo "$dir/vmlinuz"
}

kernel_61() {
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-6\.1/ { print $2; exit }')
    fetch_kernel "$pkg"
}

kernel_612() {
    local list=/etc/apt/sources.list.d/numaheap-backports.list
    if ! apt-cache policy 2>/dev/null | grep -q bookworm-backports; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" >"$list"
        apt-get update -qq >/dev/null
    fi
    local pkg
    pkg=$(apt-cache depends linux-image-6.12-amd64 2>/dev/null |
        awk '/Depends: linux-image-6\.12/ { print $2; exit }')
    [[ -n $pkg ]] || { echo "lab: no 6.12 kernel in bookworm-backports" >&2; exit 1; }
    fetch_kernel "$pkg" -t bookworm-backports
}

# ---- the guest's initramfs: busybox, the lab programs, their libraries, the allocators -------
root=$lab/root
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,lab,usr/lib/x86_64-linux-gnu,lib64,tmp}
ln -s usr/lib "$root/lib"
cp /bin/busybox "$root/bin/"
libdir=$root/usr/lib/x86_64-linux-gnu
cp "$build"/tests/lab/{lab_placement,lab_probe,lab_locality} "$build/tools/numaheap" "$root/lab/"
cp tests/unit/oci/spec_example.json "$root/lab/oci_spec_example.json"
cp -L "$build/libnumaheap.so.0" "$libdir/"
preloads=(/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
    /usr/lib/x86_64-linux-gnu/libmimalloc.so.2)
for f in "${preloads[@]}"; do cp -L "$f" "$libdir/"; done
for f in "$build"/tests/lab/lab_* "$build/tools/numaheap" "$build/libnumaheap.so.0" "${preloads[@]}"; do
    ldd "$f" | awk '/=> \// { print $3 } /^\t\/lib64/ { print $1 }'
done | sort -u | while read -r lib; do
    case $lib in
    */ld-linux-x86-64.so.2) cp -L "$lib" "$root/lib64/" ;;
    *) cp -L "$lib" "$libdir/" ;;
    esac
done
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null  # the cpuset test moves a probe between cpusets
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
topo=$(arg nhlab)
if [ -n "$(arg nhshell)" ]; then
    echo "numaheap lab $topo: cd /lab && ./lab_placement, ./lab_probe getcpu|where|large; poweroff -f"
    exec sh
fi
echo "LAB-BEGIN $topo kernel=$(uname -r) nodes=$(cat /sys/devices/system/node/online)"
wi=/sys/kernel/mm/mempolicy/weighted_interleave
if [ -d $wi ]; then echo 3 > $wi/node0; echo 1 > $wi/node1; fi  # kernel weights 3:1
cd /lab
echo "LAB-DIAG $(./lab_probe getcpu)"
echo "LAB-DIAG cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null || echo none)"
echo "LAB-DIAG thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled) $(grep -h MemFree /sys/devices/system/node/node*/meminfo | tr -s ' ' | tr '\n' ' ')"
[ -n "$(arg nhthp)" ] && echo "$(arg nhthp)" > /sys/kernel/mm/transparent_hugepage/enabled
NH_LAB_SMALL_NODE=$(arg nhsmall) NH_LAB_PROBE=/lab/lab_probe NH_LAB_CLI=/lab/numaheap \
    NH_LAB_OCI=/lab/oci_spec_example.json ./lab_placement 2>&1
echo "LAB-RESULT $topo placement rc=$?"
for wl in working-set producer-consumer; do
    ./lab_locality glibc $wl
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 ./lab_locality jemalloc $wl
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4 ./lab_locality tcmalloc $wl
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libmimalloc.so.2 ./lab_locality mimalloc $wl
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libnumaheap.so.0 ./lab_locality numaheap $wl
done
echo "LAB-END $topo"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$lab/initrd.gz"
[[ ${NH_LAB_KEEP:-0} == 1 ]] || rm -rf "$root"

# ---- boot -------------------------------------------------------------------------------------
boot() { # boot NAME KERNEL QEMU-ARGS... ; the serial log goes to $lab/NAME.log
    local name=$1 kernel=$2
    shift 2
    local extra=${BOOT_APPEND:-}
    echo "lab: booting $name ($(basename "$(dirname "$kernel")"))"
    if [[ ${NH_LAB_SHELL:-0} == 1 ]]; then
        exec qemu-system-x86_64 -accel tcg -cpu max -nographic -no-reboot -kernel "$kernel" \
            -initrd "$lab/initrd.gz" -append "console=ttyS0 panic=-1 quiet nhlab=$name nhshell=1 $extra" "$@"
    fi
    local start=$SECONDS try
    # A guest kernel that dies before userland (TCG occasionally trips a boot-time oops, e.g. an
    # int3 while patching kernel text) is booted again, at most twice; anything after
    # LAB-BEGIN counts as it is.
    for try in 1 2 3; do
        timeout 300 qemu-system-x86_64 -accel tcg -cpu max -nographic -no-reboot -kernel "$kernel" \
            -initrd "$lab/initrd.gz" -append "console=ttyS0 panic=-1 quiet nhlab=$name $extra" "$@" \
            </dev/null >"$lab/$name.log" 2>&1 || true
        grep -aq "LAB-BEGIN" "$lab/$name.log" && break # (after the console's escape codes)
        echo "lab: $name: the guest kernel died before userland (boot $try); see $lab/$name.log"
        cp "$lab/$name.log" "$lab/$name.boot$try.log"
    done
    echo "lab: $name done in $((SECONDS - start)) s"
}

status=0
for t in "${topologies[@]}"; do
    case $t in
    T2)
        # HMAT: node 0 30 GB/s, node 1 10 GB/s from their own CPUs (weighted:auto gives 3:1)
        BOOT_APPEND="${NH_LAB_T2_APPEND:-}" boot T2 "$(kernel_61)" -machine hmat=on -m 1024 -smp 2 \
            -object memory-backend-ram,id=m0,size=512M -object memory-backend-ram,id=m1,size=512M \
            -numa node,nodeid=0,cpus=0,memdev=m0,initiator=0 \
            -numa node,nodeid=1,cpus=1,memdev=m1,initiator=1 \
            -numa hmat-lb,initiator=0,target=0,hierarchy=memory,data-type=access-bandwidth,bandwidth=30G \
            -numa hmat-lb,initiator=0,target=1,hierarchy=memory,data-type=access-bandwidth,bandwidth=5G \
            -numa hmat-lb,initiator=1,target=0,hierarchy=memory,data-type=access-bandwidth,bandwidth=15G \
            -numa hmat-lb,initiator=1,target=1,hierarchy=memory,data-type=access-bandwidth,bandwidth=10G
        ;;
    T8)
        # sockets {0,1,4,5} and {2,3,6,7}: CPUs on 0-3, memory only on 4-7
        t8=(-m 2048 -smp 4)
        for n in 0 1 2 3 4 5 6 7; do
            t8+=(-object "memory-backend-ram,id=m$n,size=256M")
            if ((n < 4)); then t8+=(-numa "node,nodeid=$n,cpus=$n,memdev=m$n"); else
                t8+=(-numa "node,nodeid=$n,memdev=m$n"); fi
        done
        for a in 0 1 2 3 4 5 6 7; do
            for ((b = a + 1; b < 8; b++)); do
                d=31
                (((a & 2) == (b & 2))) && d=21 # bit 1 of the node number is the socket
                t8+=(-numa "dist,src=$a,dst=$b,val=$d")
            done
        done
        boot T8 "$(kernel_612)" "${t8[@]}"
        ;;
    T4)
        BOOT_APPEND="nhsmall=2" boot T4 "$(kernel_612)" -m 1920 -smp 3 \
            -object memory-backend-ram,id=m0,size=640M -object memory-backend-ram,id=m1,size=512M \
            -object memory-backend-ram,id=m2,size=256M -object memory-backend-ram,id=m3,size=512M \
            -numa node,nodeid=0,cpus=0,memdev=m0 -numa node,nodeid=1,cpus=1,memdev=m1 \
            -numa node,nodeid=2,cpus=2,memdev=m2 -numa node,nodeid=3,memdev=m3 \
            -numa dist,src=0,dst=1,val=21 -numa dist,src=0,dst=2,val=21 -numa dist,src=0,dst=3,val=31 \
            -numa dist,src=1,dst=2,val=21 -numa dist,src=1,dst=3,val=31 -numa dist,src=2,dst=3,val=31
        ;;
    *) echo "lab: unknown topology $t" >&2; exit 2 ;;
    esac
    log=$lab/$t.log
    tr -d '\r' <"$log" | grep -E '^\[ *(RUN|OK|FAILED|PASSED|SKIPPED|ERROR|LINE) |^LAB-|^LOCALITY|^\[=|^ERROR' || true
    if ! grep -q "^LAB-END $t" <(tr -d '\r' <"$log"); then
        echo "lab: $t: no LAB-END line (guest crashed or timed out); see $log"
        status=1
    fi
    if ! grep -q "^LAB-RESULT $t placement rc=0" <(tr -d '\r' <"$log"); then
        echo "lab: $t: placement suite failed; see $log"
        status=1
    fi
    # numaheap must keep >= 99% of each workload's pages on the allocating thread's node
    while read -r _ name wl overall worst; do
        if [[ $name == numaheap ]] && awk "BEGIN { exit !($overall < 99.0) }"; then
            echo "lab: $t: numaheap locality $overall% < 99% on $wl"
            status=1
        fi
    done < <(tr -d '\r' <"$log" | grep '^LOCALITY')
    n=$(tr -d '\r' <"$log" | grep -c '^LOCALITY' || true)
    if [[ $n -ne 10 ]]; then
        echo "lab: $t: $n of 10 locality lines"
        status=1
    fi
done
[[ $status -eq 0 ]] && echo "lab: all topologies passed" || echo "lab: FAILED"
exit $status
