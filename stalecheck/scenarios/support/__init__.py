"""Building blocks scenarios share that are not architecture: seed history and seed layouts.

``machine/`` holds the Arm architecture only.  What a hypervisor did over the years
(``policies``: KVM's and Xen's trap handlers), how a split virtqueue sits in guest
memory (``virtio``), how fcvm frames a vsock message (``vsock``) and how FEAT_NV2
layers the fcvm case (``nested``) are inputs a scenario gives the machine, so they
live here, beside the scenarios, where a user's own scenario file imports them too.
"""
