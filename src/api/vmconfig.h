/*
 * The VM configuration as JSON: the part of Cloud Hypervisor's VmConfig
 * that pvmm supports, plus pvmm's own settings under "pvmm".  `pvmm run
 * --config FILE` reads it and vm.info answers it, so the one can be fed to
 * the other.  Each option of `pvmm run` has exactly one place:
 *
 *   IMAGE                   payload.kernel
 *   --cmdline STR           payload.cmdline
 *   --initrd FILE           payload.initramfs
 *   --memory SIZE           memory.size (bytes)
 *   --cpus N                cpus.boot_vcpus (cpus.max_vcpus must be equal)
 *   --console stdio         console.mode "Tty"
 *   --console file:PATH     console.mode "File", console.file PATH
 *   --console none          console.mode "Off"
 *   --disk PATH[,readonly][,direct][,id=N]
 *                           disks[]: {path, readonly, direct, id: "N"}
 *   --net KIND[,OPTS]       net[]: {kind: "user"|"tap"|"socket", mac,
 *                           hostfwd: [RULE...], tap: NAME, fds: [N],
 *                           listen: PATH, connect: PATH}
 *   --balloon-target SIZE   balloon.size = memory.size - SIZE (bytes the
 *                           guest is asked to give back, as in Cloud
 *                           Hypervisor's balloon)
 *   --api-socket SPEC       pvmm.api_socket
 *   --shutdown-timeout S    pvmm.shutdown_timeout (seconds)
 *   --log-level LEVEL       pvmm.log_level
 *
 * Fields not listed, values of the wrong JSON type or out of range are
 * errors that name the field.
 */
#ifndef PVMM_API_VMCONFIG_H
#define PVMM_API_VMCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "util/log.h"
#include "vcpu/vm.h"

/* The limits the command line applies too. */
#define VMCONFIG_MIN_MEMORY (4ULL << 20)
#define VMCONFIG_MAX_MEMORY (1ULL << 40)
#define VMCONFIG_MAX_SHUTDOWN_TIMEOUT 3600
#define VMCONFIG_MAX_DEPTH 16

/*
 * Parses one JSON document that must fill text[0..len) (white space may
 * follow), nesting at most VMCONFIG_MAX_DEPTH deep.  Returns it, or NULL
 * with a one-line reason in err.
 */
json_object *vmconfig__parse_json(const char *text, size_t len, char *err, size_t errlen);

/*
 * Applies the configuration doc (an object) onto *cfg and *level, which
 * hold the defaults; fields absent keep them.  Strings in *cfg then point
 * into doc, which must outlive cfg's use.  0, or -1 with a one-line
 * reason in err that names the field.
 */
int vmconfig__apply(json_object *doc, struct vm_config *cfg, enum log_level *level,
		    char *err, size_t errlen);

/*
 * The configuration of a VM as JSON, with the balloon target (bytes)
 * standing in for cfg->balloon_target: the document vmconfig__apply()
 * turns back into the same settings.  NULL when out of memory.
 */
json_object *vmconfig__to_json(const struct vm_config *cfg, uint64_t balloon_target,
			       enum log_level level);

/* Checks of a --console value and of a log level name, shared with the
 * command line: 0 or -1. */
int vmconfig__check_console(const char *spec);

#endif
