/* Faults with an empty IDT (limit 0): #UD, then #GP and #DF cannot be
 * delivered either, and the CPU shuts down. */
#include "guest.h"

void guest_main(const struct hvm_start_info *si)
{
	(void)si;
	printf("about to triple fault\n");
	triple_fault();
}
