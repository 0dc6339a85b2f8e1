#!/usr/bin/env python3
"""Writes the hwloc XML topologies the topology tests use (checked in; rerun to regenerate).

dgx1.xml: a DGX-1-like machine: 2 sockets x 4 cores; per socket a host bridge
with two PCIe switches, each holding two NVIDIA GPUs (cudaN + nvidiaN) and one
Mellanox HCA (mlx5_N + ibN), plus one Ethernet port (enoN). GPU i therefore
shares a switch with mlx5_{i/2} / ib{i/2}.
no_io.xml: 2 sockets x 2 cores, no PCI or OS devices at all.
"""
import pathlib

here = pathlib.Path(__file__).parent
gp = [100]


def nid():
    gp[0] += 1
    return gp[0]


def osdev(name, kind):
    return f'<object type="OSDev" gp_index="{nid()}" name="{name}" osdev_type="{kind}"/>'


def pcidev(busid, cls, vendor, children):
    inner = "".join(children)
    return (f'<object type="PCIDev" gp_index="{nid()}" pci_busid="{busid}" '
            f'pci_type="{cls} {vendor} 00" pci_link_speed="8.000000">{inner}</object>')


def bridge(kind, depth, lo, hi, children, busid=None):
    attrs = f'bridge_type="{kind}" depth="{depth}" bridge_pci="0000:[{lo:02x}-{hi:02x}]"'
    if busid:
        attrs += f' pci_busid="{busid}" pci_type="0604 [10b5:8747] [0000:0000] ca" pci_link_speed="8.000000"'
    return f'<object type="Bridge" gp_index="{nid()}" {attrs}>{"".join(children)}</object>'


def cores(first, count, node):
    out = []
    for c in range(first, first + count):
        mask = f"0x{1 << c:08x}"
        out.append(f'<object type="Core" os_index="{c}" cpuset="{mask}" complete_cpuset="{mask}" '
                   f'nodeset="{node}" complete_nodeset="{node}" gp_index="{nid()}">'
                   f'<object type="PU" os_index="{c}" cpuset="{mask}" complete_cpuset="{mask}" '
                   f'nodeset="{node}" complete_nodeset="{node}" gp_index="{nid()}"/></object>')
    return "".join(out)


def package(s, ncores, io):
    mask = f"0x{((1 << ncores) - 1) << (s * ncores):08x}"
    node = f"0x{1 << s:08x}"
    return (f'<object type="Package" os_index="{s}" cpuset="{mask}" complete_cpuset="{mask}" nodeset="{node}" '
            f'complete_nodeset="{node}" gp_index="{nid()}">'
            f'<object type="NUMANode" os_index="{s}" cpuset="{mask}" complete_cpuset="{mask}" nodeset="{node}" '
            f'complete_nodeset="{node}" gp_index="{nid()}" local_memory="68719476736"/>'
            + cores(s * ncores, ncores, node) + io + '</object>')


def machine(packages, ncores):
    total = f"0x{(1 << (packages * ncores)) - 1:08x}"
    nodes = f"0x{(1 << packages) - 1:08x}"
    return (f'<object type="Machine" os_index="0" cpuset="{total}" complete_cpuset="{total}" allowed_cpuset="{total}" '
            f'nodeset="{nodes}" complete_nodeset="{nodes}" allowed_nodeset="{nodes}" gp_index="1">')


def document(body):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE topology SYSTEM "hwloc2.dtd">\n'
            '<topology version="2.0">\n' + body + '\n</topology>\n')


def dgx1():
    gp[0] = 100
    sockets = []
    for s in range(2):
        base = s * 0x40
        switches = []
        for k in range(2):
            b = base + 0x10 + k * 0x10
            devs = []
            for j in range(2):
                g = s * 4 + k * 2 + j
                devs.append(pcidev(f"0000:{b + 1 + j:02x}:00.0", "0302", "[10de:1db1] [10de:1212]",
                                   [osdev(f"cuda{g}", 5), osdev(f"nvidia{g}", 1)]))
            h = s * 2 + k
            devs.append(pcidev(f"0000:{b + 3:02x}:00.0", "0207", "[15b3:1013] [15b3:0008]",
                               [osdev(f"mlx5_{h}", 3), osdev(f"ib{h}", 2)]))
            switches.append(bridge("1-1", 1, b, b + 0xf, devs, busid=f"0000:{base:02x}:{1 + k:02x}.0"))
        eth = pcidev(f"0000:{base + 5:02x}:00.0", "0200", "[8086:1528] [8086:0000]", [osdev(f"eno{s + 1}", 2)])
        io = bridge("0-1", 0, base, base + 0x3f, switches + [eth])
        sockets.append(package(s, 4, io))
    return document(machine(2, 4) + "".join(sockets) + "</object>")


def no_io():
    gp[0] = 100
    return document(machine(2, 2) + package(0, 2, "") + package(1, 2, "") + "</object>")


(here / "dgx1.xml").write_text(dgx1())
(here / "no_io.xml").write_text(no_io())
