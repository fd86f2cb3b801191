/* Ends with SCHEDOP_shutdown(SHUTDOWN_crash): the VMM must report a crash. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	(void)si;
	printf("about to crash\n");
	guest_exit(SHUTDOWN_crash);
}
