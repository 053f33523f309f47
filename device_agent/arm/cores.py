"""The Arm cores the qemu-aarch64 backend emulates, and the /proc/cpuinfo each one shows.

LiteRT's XNNPACK picks kernels by what the core is: ISA features come from the
auxiliary vector (QEMU fills it for `-cpu NAME`), the microarchitecture from the
MIDR fields of /proc/cpuinfo (part 0xd03 = Cortex-A53 gets the A53-tuned GEMM
kernels). Under QEMU user mode the program would read the host's x86 cpuinfo, which
the runtime cannot parse (it crashes), so each core gets a fake one whose fields
match what QEMU emulates: MIDR 0x410fd034 (A53 r0p4) and 0x414fd0b1 (A76 r4p1),
features as Linux prints them for those cores' HWCAPs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Core:
    name: str  # QEMU's -cpu name
    part: int
    variant: int
    revision: int
    features: str

    def cpuinfo(self, processors: int = 1) -> str:
        """A /proc/cpuinfo in the aarch64 Linux format, `processors` identical cores."""
        block = (
            "processor\t: {n}\n"
            "BogoMIPS\t: 50.00\n"
            f"Features\t: {self.features}\n"
            "CPU implementer\t: 0x41\n"
            "CPU architecture: 8\n"
            f"CPU variant\t: {self.variant:#x}\n"
            f"CPU part\t: {self.part:#05x}\n"
            f"CPU revision\t: {self.revision}\n"
            "\n"
        )
        return "".join(block.format(n=n) for n in range(processors))


CORES: dict[str, Core] = {
    core.name: core
    for core in (
        Core("cortex-a53", part=0xD03, variant=0x0, revision=4,
             features="fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid"),
        Core("cortex-a76", part=0xD0B, variant=0x4, revision=1,
             features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
                      "asimdrdm lrcpc dcpop asimddp ssbs"),
    )
}
DEFAULT_CORE = "cortex-a53"


def core(name: str) -> Core:
    try:
        return CORES[name]
    except KeyError:
        raise ValueError(f"unknown Arm core {name!r}; emulated cores: {', '.join(sorted(CORES))}") from None
