# Arm targets (device_agent --backend qemu-aarch64): sourced by scripts/setup_test_env.sh.
# qemu-user: Debian's dynamic qemu-aarch64 (7.2 on Debian 12), the one that loads TCG
#   plugins (qemu-user-static cannot);
# gcc: compiles the instruction-counting plugin (plain C: no glib headers needed);
# xz-utils: unpacks the one plugin header from Debian's qemu source tarball;
# debian-archive-keyring: verifies the arm64 packages and qemu sources that
#   `netadapt-agent setup-arm` fetches with a private apt configuration.
# The root filesystem, wheels, header and plugin themselves are built by
# `netadapt-agent setup-arm` (cached under ~/.cache/netadapt/arm), not here.
apt_install qemu-user gcc libc6-dev xz-utils debian-archive-keyring
