"""Arm targets without an Arm device: what `netadapt-agent setup-arm` builds and the
qemu-aarch64 backend runs (cores.py: the emulated cores and their /proc/cpuinfo;
setup.py: root filesystem, wheels, plugin; insn_count.c: the QEMU plugin;
guest_runner.py: the program measured under emulation)."""
