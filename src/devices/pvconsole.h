/*
 * The Xen PV console backend: the guest's console ring page (special page
 * GMEM_SPECIAL_CONSOLE, HVM_PARAM_CONSOLE_PFN) and its event channel
 * (HVM_PARAM_CONSOLE_EVTCHN), connected to pvmm's console.  Guest output
 * goes to the console; once the guest has used the ring, console input is
 * fed to it (until then it stays queued for COM1 or CONSOLEIO_read).
 */
#ifndef PVMM_DEVICES_PVCONSOLE_H
#define PVMM_DEVICES_PVCONSOLE_H

struct vm;

/* Needs the event channels and xenstore; 0 or -1 after logging why. */
int pvconsole__init(struct vm *vm);
void pvconsole__destroy(struct vm *vm);

#endif
