/*
 * The --net option and the values inside it, as pure functions shared by
 * the command line (cli/options.c) and the configuration file
 * (api/vmconfig.c):
 *
 *   --net [user][,hostfwd=RULE]...[,mac=MAC]      user-mode networking (the
 *                                                 default kind)
 *   --net tap=NAME[,mac=MAC]                      a tap device by name
 *   --net tap,fd=N[,mac=MAC]                      an open tap descriptor
 *   --net socket,listen=PATH[,mac=MAC]            a link to another pvmm
 *   --net socket,connect=PATH[,mac=MAC]
 *
 * RULE is QEMU's hostfwd syntax, [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:
 * GUESTPORT, IPv4 only.  Where QEMU listens on every address when HOSTADDR
 * is empty, pvmm listens on 127.0.0.1: exposing a guest port beyond the
 * host takes an explicit 0.0.0.0.
 */
#ifndef PVMM_NET_SPEC_H
#define PVMM_NET_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "vcpu/vm.h"

#define NET_MAC_TEXT 18         /* "52:54:00:12:34:56" and its NUL */
#define NET_HOSTFWD_TEXT 64     /* the longest formatted rule and its NUL */

/* Parses a --net value into *net (every field set).  0, or -1 with a
 * one-line reason in err. */
int net__parse_spec(const char *spec, struct vm_net *net, char *err, size_t errlen);

/* "xx:xx:xx:xx:xx:xx", hex digits, a unicast address other than zero.
 * 0 or -1. */
int net__parse_mac(const char *text, uint8_t mac[6]);
void net__format_mac(const uint8_t mac[6], char buf[NET_MAC_TEXT]);

/* One hostfwd rule; 0, or -1 with the reason in err. */
int net__parse_hostfwd(const char *text, struct vm_net_hostfwd *out, char *err, size_t errlen);
/* The rule in the syntax net__parse_hostfwd() reads back. */
void net__format_hostfwd(const struct vm_net_hostfwd *f, char buf[NET_HOSTFWD_TEXT]);

/*
 * The MAC of interface `index` of the VM whose UUID is uuid, when none is
 * given: a hash of both, unicast with the locally administered bit set, so
 * that an interface keeps its address for the VM's life and two interfaces
 * or two VMs do not share one.
 */
void net__derive_mac(const uint8_t uuid[16], unsigned index, uint8_t mac[6]);

/* "user", "tap", "socket". */
const char *net__kind_name(enum vm_net_kind kind);

#endif
