/*
 * __HYPERVISOR_console_io: Xen's emergency console, the first thing a PVH
 * guest prints through.  Output and input are the VM's console.
 */
#include <limits.h>

#include "console/console.h"
#include "hypercall/hypercall.h"
#include "vcpu/vm.h"

/* Guest bytes go through a small buffer: a huge count costs time, not
 * host memory. */
#define CONSOLE_CHUNK 128

static long console_write(struct hcall *hc, uint64_t buffer, unsigned int count)
{
	uint8_t buf[CONSOLE_CHUNK];

	while (count) {
		unsigned int n = count < CONSOLE_CHUNK ? count : CONSOLE_CHUNK;
		long ret = hcall__copy_from(hc, buffer, buf, n);

		/* As Xen: what was written before a bad byte stays written. */
		if (ret)
			return ret;
		console__write(&hc->vm->console, buf, n);
		buffer += n;
		count -= n;
	}
	return 0;
}

static long console_read(struct hcall *hc, uint64_t buffer, unsigned int count)
{
	uint8_t buf[CONSOLE_CHUNK];
	unsigned int done = 0;

	/* The result is a count or an error: counts must stay positive. */
	if (count > INT_MAX)
		return -XEN_E2BIG;
	while (done < count) {
		size_t want = count - done < CONSOLE_CHUNK ? count - done : CONSOLE_CHUNK;
		size_t n = console__read(&hc->vm->console, buf, want);

		if (!n)
			break;
		/* Input taken for a bad buffer is lost: the guest's own doing. */
		if (hcall__copy_to(hc, buffer + done, buf, n))
			return -XEN_EFAULT;
		done += (unsigned int)n;
	}
	return done;
}

long hc__console_io(struct hcall *hc)
{
	/* Xen's prototype: unsigned int cmd, unsigned int count, handle. */
	unsigned int cmd = (unsigned int)hc->arg[0];
	unsigned int count = (unsigned int)hc->arg[1];

	switch (cmd) {
	case CONSOLEIO_write:
		return console_write(hc, hc->arg[2], count);
	case CONSOLEIO_read:
		return console_read(hc, hc->arg[2], count);
	default:
		return hcall__enosys(hc, "console_io", cmd);
	}
}
