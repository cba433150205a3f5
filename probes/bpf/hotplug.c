/* movcheck: memory hot-add, online, offline and hot-remove, one perf event per call.
 *
 * Compiled by bcc (python3-bpfcc) on the running kernel. The loader attaches
 * only the points that kernel has (see probes/bpf/attach.py) and sets the
 * HAVE_* macros accordingly. The layout of struct event is decoded by
 * probes/bpf/decode.py: keep the two in step.
 *
 * Functions followed (mm/memory_hotplug.c, v6.1 and v6.12):
 *   int add_memory_resource(int nid, struct resource *res, mhp_t mhp_flags)
 *   struct zone *zone_for_pfn_range(int online_type, int nid,
 *                                  struct memory_group *group, unsigned long start_pfn,
 *                                  unsigned long nr_pages)
 *   int online_pages(unsigned long pfn, unsigned long nr_pages, struct zone *zone,
 *                    struct memory_group *group)
 *   int offline_pages(unsigned long start_pfn, unsigned long nr_pages, struct zone *zone,
 *                     struct memory_group *group)
 *   static int try_remove_memory(u64 start, u64 size) / void __remove_memory(u64 start, u64 size)
 * Tracepoints: page_isolation:test_pages_isolated, migrate:mm_migrate_pages.
 */
#include <uapi/linux/ptrace.h>
#include <linux/mmzone.h>
#include <linux/ioport.h>
#include <linux/memory_hotplug.h>
#include <linux/memory.h>
#include <linux/migrate_mode.h>

#define KIND_ADD 1
#define KIND_ONLINE 2
#define KIND_OFFLINE 3
#define KIND_REMOVE 4

struct event {
    u64 ts_ns;
    u64 duration_ns;
    u64 start_pfn;
    u64 nr_pages;
    s64 ret;
    u64 migrated;
    u64 migrate_failed;
    u64 group_max_pages;     /* static group: s.max_pages; dynamic: d.unit_pages; 0: no group */
    u64 group_kernel_pages;  /* group->present_kernel_pages before this call */
    u64 group_movable_pages; /* group->present_movable_pages before this call */
    u32 kind;
    s32 nid;
    s32 online_type;
    u32 isolation_checks;
    u32 isolation_failures;
    u32 pid;
    u32 group_dynamic;
    s32 group_nid;
    char zone[16];
    char comm[16];
};

/* In flight by (thread, kind): auto-online runs online_pages inside add_memory_resource. */
BPF_HASH(inflight, u64, struct event, 1024);
BPF_HASH(online_type, u32, s32, 1024);
BPF_PERF_OUTPUT(events);
/* Events perf_submit could not place (the ring was full), counted here too: the kernel's
 * PERF_RECORD_LOST reaches the reader only with the next event that fits, so a loss at the end
 * of a burst would stay unseen until the next hotplug operation. */
BPF_ARRAY(dropped, u64, 1);

static __always_inline u32 tid(void) { return (u32)bpf_get_current_pid_tgid(); }
static __always_inline u64 key(u32 kind) { return ((u64)tid() << 8) | kind; }

static __always_inline void begin(u32 kind, u64 start_pfn, u64 nr_pages, s32 nid, struct zone *zone,
                                  struct memory_group *group)
{
    struct event e = {};
    u32 t = tid();
    e.ts_ns = bpf_ktime_get_ns();
    e.kind = kind;
    e.start_pfn = start_pfn;
    e.nr_pages = nr_pages;
    e.nid = nid;
    e.online_type = -1;
    e.group_nid = -1;
    e.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    if (zone) {
        const char *name = NULL;
        struct pglist_data *pgdat = NULL;
        bpf_probe_read_kernel(&name, sizeof(name), &zone->name);
        bpf_probe_read_kernel_str(&e.zone, sizeof(e.zone), name);
        bpf_probe_read_kernel(&pgdat, sizeof(pgdat), &zone->zone_pgdat);
        bpf_probe_read_kernel(&e.nid, sizeof(e.nid), &pgdat->node_id);
    }
    if (group) {
        bool dynamic = 0;
        bpf_probe_read_kernel(&dynamic, sizeof(dynamic), &group->is_dynamic);
        e.group_dynamic = dynamic;
        bpf_probe_read_kernel(&e.group_max_pages, sizeof(u64), &group->s.max_pages);
        bpf_probe_read_kernel(&e.group_kernel_pages, sizeof(u64), &group->present_kernel_pages);
        bpf_probe_read_kernel(&e.group_movable_pages, sizeof(u64), &group->present_movable_pages);
        bpf_probe_read_kernel(&e.group_nid, sizeof(s32), &group->nid);
    }
    s32 *ot = online_type.lookup(&t);
    if (ot && kind == KIND_ONLINE) {
        e.online_type = *ot;
        online_type.delete(&t);
    }
    u64 k = key(kind);
    inflight.update(&k, &e);
}

static __always_inline int finish(struct pt_regs *ctx, u32 kind, s64 ret)
{
    u64 k = key(kind);
    struct event *e = inflight.lookup(&k);
    if (!e)
        return 0;
    e->duration_ns = bpf_ktime_get_ns() - e->ts_ns;
    e->ret = ret;
    if (events.perf_submit(ctx, e, sizeof(*e)) < 0) {
        u32 zero = 0;
        u64 *n = dropped.lookup(&zero);
        if (n)
            __sync_fetch_and_add(n, 1);
    }
    inflight.delete(&k);
    return 0;
}

int add_entry(struct pt_regs *ctx, int nid, struct resource *res, int flags)
{
    u64 start = 0, end = 0;
    bpf_probe_read_kernel(&start, sizeof(start), &res->start);
    bpf_probe_read_kernel(&end, sizeof(end), &res->end);
    begin(KIND_ADD, start >> 12, (end + 1 - start) >> 12, (flags & (int)MHP_NID_IS_MGID) ? -1 : nid, NULL, NULL);
    return 0;
}

int zone_for_entry(struct pt_regs *ctx, int type)
{
    u32 t = tid();
    s32 v = type;
    online_type.update(&t, &v);
    return 0;
}

int online_entry(struct pt_regs *ctx, unsigned long pfn, unsigned long nr_pages, struct zone *zone,
                 struct memory_group *group)
{
    begin(KIND_ONLINE, pfn, nr_pages, -1, zone, group);
    return 0;
}

int offline_entry(struct pt_regs *ctx, unsigned long pfn, unsigned long nr_pages, struct zone *zone,
                  struct memory_group *group)
{
    begin(KIND_OFFLINE, pfn, nr_pages, -1, zone, group);
    return 0;
}

int remove_entry(struct pt_regs *ctx, u64 start, u64 size)
{
    begin(KIND_REMOVE, start >> 12, size >> 12, -1, NULL, NULL);
    return 0;
}

#define RC ((s64)(int)PT_REGS_RC(ctx))
int add_return(struct pt_regs *ctx) { return finish(ctx, KIND_ADD, RC); }
int online_return(struct pt_regs *ctx) { return finish(ctx, KIND_ONLINE, RC); }
int offline_return(struct pt_regs *ctx) { return finish(ctx, KIND_OFFLINE, RC); }
int remove_return(struct pt_regs *ctx) { return finish(ctx, KIND_REMOVE, RC); }
int remove_void_return(struct pt_regs *ctx) { return finish(ctx, KIND_REMOVE, 0); }

#ifdef HAVE_TP_ISOLATION
TRACEPOINT_PROBE(page_isolation, test_pages_isolated)
{
    u64 k = key(KIND_OFFLINE);
    struct event *e = inflight.lookup(&k);
    if (e) {
        e->isolation_checks++;
        if (args->fin_pfn < args->end_pfn)
            e->isolation_failures++;
    }
    return 0;
}
#endif

#ifdef HAVE_TP_MIGRATE
TRACEPOINT_PROBE(migrate, mm_migrate_pages)
{
    u64 k = key(KIND_OFFLINE);
    struct event *e = inflight.lookup(&k);
    if (e) {
        e->migrated += args->succeeded;
        e->migrate_failed += args->failed;
    }
    return 0;
}
#endif
