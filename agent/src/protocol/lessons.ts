// Lessons: a workshop scenario as data (lessons/*.yaml), validated with zod when the agent loads
// them and again by the page. One lesson: the lab mode it needs, then one or more parts, each
// making traffic, picking one journey of it and walking it hop by hop.
import { z } from 'zod';
import type { HopKind } from './events.ts';
import { cniModes, kubeProxyModes } from './lab-modes.ts';

const name = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower case, digits, -)');
const port = z.number().int().min(1).max(65535);
const serviceRef = z.object({ namespace: name.default('default'), name }).strict();

/** Every hop kind, as lesson files may name them (checked against HopKind below). */
export const HOP_KINDS = ['pod-egress', 'egress', 'host-veth', 'bridge', 'route', 'dnat', 'snat', 'reverse-nat', 'encap', 'underlay', 'decap', 'deliver', 'loopback', 'drop'] as const;
// Fails to compile when HopKind gains a kind this list lacks (or the other way round).
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const hopKindsComplete: Same<(typeof HOP_KINDS)[number], HopKind> = true;
void hopKindsComplete;
const hopKind = z.enum(HOP_KINDS);

/** A pod picked by what it is, not by its name (Deployment pods get new names on every build). */
const podPick = z
  .object({ namespace: name.default('default'), pod: name.optional(), deployment: name.optional(), node: name.optional() })
  .strict()
  .refine((p) => (p.pod === undefined) !== (p.deployment === undefined), 'give either pod or deployment');

/** Traffic a lesson makes: the page's lab actions, with pods picked by Deployment and node. */
export const lessonTrafficSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('curl'), service: serviceRef, port: port.optional(), from: name.optional() }).strict(),
  z.object({ kind: z.literal('connect'), to: podPick, port, from: name.optional() }).strict(),
  z.object({ kind: z.literal('dig'), name: z.string().regex(/^[a-z0-9.-]{1,253}$/, 'must be a DNS name'), from: name.optional() }).strict(),
  z.object({ kind: z.literal('nodeport'), service: serviceRef, node: name.optional() }).strict(),
  z.object({ kind: z.literal('scale'), namespace: name.default('default'), deployment: name, replicas: z.number().int().min(0).max(20) }).strict(),
]);
export type LessonTraffic = z.infer<typeof lessonTrafficSchema>;

/** Which journey of the traffic a part walks. Every given field must hold. */
export const journeyPickSchema = z
  .object({
    proto: z.enum(['tcp', 'udp', 'icmp']).optional(),
    /** TCP flags of the first packet, as the list prints them ("S" = the SYN). */
    flags: z.string().regex(/^[SAFRPUEC.]+$/).optional(),
    /** The journey has every one of these hop kinds... */
    hops: z.array(hopKind).default([]),
    /** ...and none of these. */
    withoutHops: z.array(hopKind).default([]),
    verdict: z.enum(['delivered', 'dropped']).optional(),
    /** Addressed to this Service (its ClusterIP or NodePort). */
    service: z.string().optional(),
    /** Sent by this pod (name, or a Deployment's pod). */
    from: z.string().optional(),
    /** A sidecar's call over lo: such journeys are listed only while the page shows loopback. */
    loopback: z.boolean().default(false),
    /** The backend is a pod that was not there before the part's traffic (a scale-up). */
    newBackend: z.boolean().default(false),
  })
  .strict();
export type JourneyPick = z.infer<typeof journeyPickSchema>;

export const lessonPartSchema = z
  .object({
    title: z.string().min(1).max(120),
    /** Said before the traffic is made. */
    intro: z.string().max(2000).default(''),
    /** Made once, before the snapshot `newBackend` compares with (e.g. scale back to 2). */
    setup: z.array(lessonTrafficSchema).max(4).default([]),
    /** Made on each try until a journey matches (none: wait for traffic the lab makes itself). */
    traffic: z.array(lessonTrafficSchema).max(4).default([]),
    journey: journeyPickSchema,
    /** How many times the traffic is made before the part gives up (a random backend pick may miss). */
    tries: z.number().int().min(1).max(30).default(6),
    /** Extra narration by hop kind, after the general explanation of the hop. */
    notes: z.partialRecord(hopKind, z.string().max(2000)).default({}),
  })
  .strict();
export type LessonPart = z.infer<typeof lessonPartSchema>;

export const lessonSchema = z
  .object({
    id: name,
    title: z.string().min(1).max(120),
    /** Lessons are listed by mode, then by this. */
    order: z.number().int().min(0).max(1000).default(100),
    summary: z.string().max(2000).default(''),
    mode: z.object({ cni: z.enum(cniModes), kubeProxy: z.enum(kubeProxyModes) }).strict(),
    parts: z.array(lessonPartSchema).min(1).max(4),
  })
  .strict();
/** One lesson, as validated. */
export type Lesson = z.infer<typeof lessonSchema>;

/** What /api/lessons answers: the lessons that loaded, and why the others did not. */
export const lessonsResponseSchema = z.object({
  lessons: z.array(lessonSchema),
  problems: z.array(z.object({ file: z.string(), error: z.string() })),
});
export type LessonsResponse = z.infer<typeof lessonsResponseSchema>;

/** Validate one parsed lesson file; throws an Error listing every problem. */
export function validateLesson(raw: unknown): Lesson {
  const r = lessonSchema.safeParse(raw);
  if (!r.success) throw new Error(r.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; '));
  return r.data;
}

/** Lessons in the order the page lists them: grouped by mode (a rebuild per mode), then by order. */
export function sortLessons(ls: readonly Lesson[]): Lesson[] {
  const modeRank = (l: Lesson) => `${cniModes.indexOf(l.mode.cni)}.${kubeProxyModes.indexOf(l.mode.kubeProxy)}`;
  return [...ls].sort((a, b) => (modeRank(a) < modeRank(b) ? -1 : modeRank(a) > modeRank(b) ? 1 : a.order - b.order || a.id.localeCompare(b.id)));
}
