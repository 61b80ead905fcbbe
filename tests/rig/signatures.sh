# What two of the rig's environment failures look like in a test's output
# (docs/rig.md); tests/rig/run names them, tests/rig/migrate-loop counts
# them.  Source it.

# A register dump (QEMU's, or migrate.py's 'info registers') whose code
# segment is 0x10 and 64-bit: L1's own kernel context where an L2 guest's
# belongs.  The test guests never enter 64-bit mode.
MF_SIG_L1_CONTEXT='^ *CS =0010 .* CS64 '
# A source guest that reset before anything of memfault ran, in the words of
# migrate.py's reset_message() with BEFORE_POSTCOPY (libvirt-migrate uses it
# too).
MF_SIG_SRC_RESET='source: the guest asked for a reset before the switch to postcopy'
