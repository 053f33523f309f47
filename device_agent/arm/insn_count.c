/*
 * netadapt insn_count: a QEMU TCG plugin (user mode) that counts the guest
 * instructions a program executes between two marker system calls.
 *
 *   qemu-aarch64 -plugin libnetadapt_insn_count.so,out=FILE,marker=NR,cookie=C ...
 *
 * Marker protocol (the measured program's side is device_agent/arm/guest_runner.py):
 * the program makes the system call NR (a number Linux does not use, so QEMU answers
 * -ENOSYS and nothing else happens) with arguments (C, op, tag):
 *   op 1 = start: remember the running instruction count and the tag;
 *   op 2 = stop:  write "TAG COUNT\n" to FILE, COUNT = instructions executed since the
 *                 start marker with the same tag, on the same vCPU.
 * A stop without a matching start writes "TAG error REASON\n". Lines are flushed as
 * they are written, so a crash keeps every finished count.
 *
 * Counting: every translated block adds its instruction count to one 64-bit counter
 * when it starts executing (an inline add, no helper call). A system call ends its
 * block, so both markers fall on block boundaries and the difference is exact for the
 * thread that emitted them. The counter is shared by all vCPUs (QEMU 7.2's inline ops
 * take one address): the measured program runs one thread, and the vCPU count at each
 * stop is written on the line ("TAG COUNT vcpus=N") so a caller can tell.
 *
 * Only the plugin API header is needed (no glib); QEMU_PLUGIN_VERSION 1 (QEMU 7.x).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum { OP_START = 1, OP_STOP = 2 };

static uint64_t executed;      /* guest instructions executed so far (all vCPUs) */
static int64_t marker_nr = -1; /* the marker system call number */
static uint64_t cookie;        /* first argument of a marker call */
static FILE *out;

static int running;            /* a start marker is open */
static uint64_t start_count, start_tag;
static unsigned int start_vcpu;
static int live_vcpus;

static void on_tb_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed,
                                             qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1,
                       uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6,
                       uint64_t a7, uint64_t a8)
{
    uint64_t now = executed;
    (void)id; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8;
    if (num != marker_nr || a1 != cookie) {
        return;
    }
    if (a2 == OP_START) {
        running = 1;
        start_count = now;
        start_tag = a3;
        start_vcpu = vcpu;
    } else if (a2 == OP_STOP) {
        if (!running || start_tag != a3) {
            fprintf(out, "%" PRIu64 " error stop-without-start\n", a3);
        } else if (start_vcpu != vcpu) {
            fprintf(out, "%" PRIu64 " error start-and-stop-on-different-threads\n", a3);
        } else {
            fprintf(out, "%" PRIu64 " %" PRIu64 " vcpus=%d\n", a3, now - start_count,
                    live_vcpus);
        }
        running = 0;
        fflush(out);
    }
}

static void on_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id; (void)vcpu;
    __atomic_add_fetch(&live_vcpus, 1, __ATOMIC_SEQ_CST);
}

static void on_vcpu_exit(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id; (void)vcpu;
    __atomic_sub_fetch(&live_vcpus, 1, __ATOMIC_SEQ_CST);
}

static void on_plugin_exit(qemu_plugin_id_t id, void *userdata)
{
    (void)id; (void)userdata;
    if (out != NULL) {
        fclose(out);
        out = NULL;
    }
}

static int parse_u64(const char *text, uint64_t *value)
{
    char *end = NULL;
    errno = 0;
    *value = strtoull(text, &end, 0);
    return errno == 0 && end != text && *end == '\0';
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    const char *path = NULL;
    uint64_t value;
    int have_cookie = 0;

    if (info->system_emulation) {
        fprintf(stderr, "insn_count: user-mode emulation only\n");
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            path = argv[i] + 4;
        } else if (strncmp(argv[i], "marker=", 7) == 0 && parse_u64(argv[i] + 7, &value)) {
            marker_nr = (int64_t)value;
        } else if (strncmp(argv[i], "cookie=", 7) == 0 && parse_u64(argv[i] + 7, &value)) {
            cookie = value;
            have_cookie = 1;
        } else {
            fprintf(stderr, "insn_count: unknown or malformed argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (path == NULL || marker_nr < 0 || !have_cookie) {
        fprintf(stderr, "insn_count: needs out=FILE,marker=NR,cookie=C\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "insn_count: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    qemu_plugin_register_vcpu_init_cb(id, on_vcpu_init);
    qemu_plugin_register_vcpu_exit_cb(id, on_vcpu_exit);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, on_plugin_exit, NULL);
    return 0;
}
