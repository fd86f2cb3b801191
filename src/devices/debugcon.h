/*
 * The Bochs/QEMU debug console: a byte written to I/O port 0xe9 goes to the
 * VM's console.  Reading the port returns 0xe9, which is how firmware and
 * kernels check that the port is there before using it.
 */
#ifndef PVMM_DEVICES_DEBUGCON_H
#define PVMM_DEVICES_DEBUGCON_H

struct vm;

#define DEBUGCON_PORT 0xe9

/* Registers port 0xe9 on vm->pio; 0 or -errno.  Nothing to free. */
int debugcon__init(struct vm *vm);

#endif
