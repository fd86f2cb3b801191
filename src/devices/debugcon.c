#include "devices/debugcon.h"

#include <string.h>

#include "console/console.h"
#include "vcpu/io.h"
#include "vcpu/vm.h"

static void debugcon__io(void *dev, struct vcpu *vcpu, uint64_t addr, uint8_t *data,
			 uint32_t len, bool is_write)
{
	struct console *c = dev;

	(void)vcpu;
	(void)addr;
	if (is_write) {
		/* One character per access, whatever its width. */
		console__write(c, data, 1);
		return;
	}
	memset(data, 0, len);
	data[0] = DEBUGCON_PORT;
}

int debugcon__init(struct vm *vm)
{
	return io__register(&vm->pio, DEBUGCON_PORT, 1, debugcon__io, &vm->console);
}
