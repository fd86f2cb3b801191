/* The demo guest: one line through the hypervisor console, one through the
 * UART, then poweroff. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	(void)si;
	printf("Hello from a Xen PVH guest (%u-bit)\n", GUEST_BITS);
	uart_puts("hello via COM1\n");
}
