# shellcheck shell=bash
# Test-only image assembly with HOST tools (apt-get download, dpkg-deb, cpio, objcopy), used by
# tests/e2e/harness_selftest.sh to prove the boot harness without tdximg. The real e2e tests
# boot what tdximg builds; nothing here is a reference for tdximg's bytes.
# Source after qemu.sh.
#
#   e2e_host_deb PACKAGE CACHE_DIR     download PACKAGE's .deb (cached); prints its path
#   e2e_host_kernel CACHE_DIR          Debian bookworm kernel: prints "<vmlinuz path> <release>"
#   e2e_host_initramfs OUT INIT BUSYBOX [MODULES_FILE KERNEL_TREE KVER]   newc cpio: busybox, INIT, modules
#   e2e_host_uki OUT VMLINUZ INITRD CMDLINE [STUB]       UKI via objcopy (systemd 252 style)

# e2e_host_deb PACKAGE CACHE_DIR: the newest candidate .deb of PACKAGE from the host's apt
# sources (the Debian mirror), downloaded once into CACHE_DIR. Prints the file's path.
e2e_host_deb() {
  local pkg=$1 cache=$2 ver f
  mkdir -p "$cache"
  ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
  [[ -n $ver && $ver != "(none)" ]] || { e2e_log "apt knows no candidate for $pkg"; return 1; }
  f=$(ls "$cache/${pkg}_"*"${ver#*:}_"*.deb 2>/dev/null | head -n 1)
  if [[ -z $f ]]; then
    (cd "$cache" && apt-get download -q "$pkg=$ver" >/dev/null 2>"$cache/apt-$pkg.err") ||
      { e2e_log "apt-get download $pkg failed: $(cat "$cache/apt-$pkg.err")"; return 1; }
    f=$(ls "$cache/${pkg}_"*"${ver#*:}_"*.deb 2>/dev/null | head -n 1)
  fi
  [[ -n $f ]] || { e2e_log "no .deb for $pkg $ver in $cache"; return 1; }
  echo "$f"
}

# e2e_host_kernel CACHE_DIR: resolve linux-image-amd64 to its concrete package, download it once
# and unpack (once) boot/ and the modules the selftest uses (virtio, block drivers, modules.*
# lists; ~10 MB instead of the whole 400 MB tree). Prints "<path of vmlinuz> <kernel release>".
e2e_host_kernel() {
  local cache=$1 pkg deb dir
  pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
  [[ -n $pkg ]] || { e2e_log "cannot resolve linux-image-amd64"; return 1; }
  deb=$(e2e_host_deb "$pkg" "$cache") || return 1
  dir=$cache/${pkg}.d
  if [[ ! -d $dir/boot ]]; then
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp" &&
      dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp" --wildcards --no-wildcards-match-slash \
        './boot/*' './lib/modules/*/modules.*' './lib/modules/*/kernel/drivers/virtio/*' \
        './lib/modules/*/kernel/drivers/block/*' && rm -rf "$dir" && mv "$dir.tmp" "$dir" ||
      { e2e_log "cannot unpack $deb"; return 1; }
  fi
  local vmlinuz
  vmlinuz=$(ls "$dir"/boot/vmlinuz-* | head -n 1)
  echo "$vmlinuz ${vmlinuz##*/vmlinuz-}"
}

# e2e_host_initramfs OUT INIT BUSYBOX [MODULES_FILE KERNEL_TREE KVER]: an uncompressed newc cpio
# (host `cpio`) with /bin/busybox, /bin/sh, /dev/console + /dev/null (as root), the mount
# points and INIT as /init. With MODULES_FILE: it becomes /etc/probe-modules, and (given the
# unpacked kernel package KERNEL_TREE and release KVER) the listed loadable modules with their
# dependencies (host depmod/modprobe --show-depends), modules.builtin and a depmod'ed
# modules.dep are copied to /lib/modules/KVER.
e2e_host_initramfs() {
  local out=$1 init=$2 busybox=$3 mods=${4:-} ktree=${5:-} kver=${6:-} root m f
  e2e_mktemp root || return 1
  root=$root/root
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,run,root}
  cp "$busybox" "$root/bin/busybox" && chmod 0755 "$root/bin/busybox"
  ln -s busybox "$root/bin/sh"
  cp "$init" "$root/init" && chmod 0755 "$root/init"
  [[ -n $mods ]] && cp "$mods" "$root/etc/probe-modules"
  if [[ -n $mods && -n $ktree ]]; then
    local mdir=lib/modules/$kver
    [[ -f $ktree/$mdir/modules.dep ]] || depmod -b "$ktree" "$kver" ||
      { e2e_log "depmod -b $ktree failed"; return 1; }
    mkdir -p "$root/$mdir"
    cp "$ktree/$mdir/modules.builtin" "$root/$mdir/"
    for m in $(cat "$mods"); do
      while read -r verb f _; do
        [[ $verb == insmod ]] || continue
        mkdir -p "$root/$(dirname "${f#"$ktree"/}")"
        cp "$f" "$root/${f#"$ktree"/}"
      done < <(modprobe -d "$ktree" -S "$kver" --show-depends "$m" 2>/dev/null)
    done
    depmod -b "$root" "$kver" 2>/dev/null || { e2e_log "depmod -b $root failed"; return 1; }
  fi
  # Device nodes need root; without them the probe reopens its console from devtmpfs.
  if [[ $(id -u) -eq 0 ]]; then
    mknod -m 0600 "$root/dev/console" c 5 1
    mknod -m 0666 "$root/dev/null" c 1 3
  fi
  (cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$out"
}

# e2e_host_uki OUT VMLINUZ INITRD CMDLINE [STUB]: a UKI made the way systemd's documentation did
# before ukify: objcopy adds .osrel, .cmdline, .initrd and .linux at 4 KiB-aligned addresses after
# the stub's last section. STUB defaults to systemd-boot-efi's linuxx64.efi.stub.
e2e_host_uki() {
  local out=$1 vmlinuz=$2 initrd=$3 cmdline=$4
  local stub=${5:-/usr/lib/systemd/boot/efi/linuxx64.efi.stub} d end vma args=() name file
  command -v objcopy >/dev/null || { e2e_log "objcopy missing (binutils)"; return 1; }
  [[ -f $stub ]] || { e2e_log "no stub at $stub (apt-get install systemd-boot-efi)"; return 1; }
  e2e_mktemp d || return 1
  printf 'ID=tdximg-e2e\nNAME="tdximg e2e harness selftest"\n' >"$d/osrel"
  printf '%s' "$cmdline" >"$d/cmdline"
  # End of the stub's image (RVA of the last section + its size); ImageBase is 0 in the stub.
  local size addr e
  end=0
  while read -r size addr; do
    e=$((16#$addr + 16#$size)); ((e > end)) && end=$e
  done < <(objdump -h "$stub" | awk 'NF == 7 && $1 ~ /^[0-9]+$/ { print $3, $4 }')
  vma=$(( (end + 0xfff) & ~0xfff ))
  for name in osrel cmdline initrd linux; do
    case $name in osrel | cmdline) file=$d/$name ;; initrd) file=$initrd ;; linux) file=$vmlinuz ;; esac
    args+=(--add-section ".$name=$file" --change-section-vma ".$name=$(printf 0x%x "$vma")")
    vma=$(( (vma + $(stat -Lc %s "$file") + 0xfff) & ~0xfff ))
  done
  objcopy "${args[@]}" "$stub" "$out" 2>"$d/err" || { e2e_log "objcopy failed: $(cat "$d/err")"; return 1; }
}
