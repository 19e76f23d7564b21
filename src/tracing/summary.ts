/**
 * From the stored pieces of one trace to what X-Ray's API returns: the merged segment documents
 * (BatchGetTraces) and the trace summary (GetTraceSummaries).
 *
 * Pieces are full segments and independent subsegments (`"type": "subsegment"` with `parent_id`),
 * which the X-Ray SDKs send separately (a function's own subsegments under Lambda's function
 * segment; any subsegment streamed early). X-Ray embeds each independent subsegment into its
 * parent's `subsegments`; so does lambkin. Pure.
 */
import type { SegmentDocument } from './segments.js';

/** X-Ray's ServiceId. */
export interface ServiceId {
  readonly Name?: string;
  readonly Names?: string[];
  readonly AccountId?: string;
  readonly Type?: string;
}

/** An annotation value as X-Ray's API shapes it (one member set). */
export type AnnotationValue = { NumberValue: number } | { BooleanValue: boolean } | { StringValue: string };

/** A trace summary in the shape GetTraceSummaries returns (times in epoch seconds). */
export interface TraceSummary {
  readonly Id: string;
  readonly StartTime: number;
  /** Root segment start → end of the last segment that completed (X-Ray's definition), seconds. */
  readonly Duration: number;
  /** Root (entry) segment start → its end, seconds. */
  readonly ResponseTime: number;
  readonly HasFault: boolean;
  readonly HasError: boolean;
  readonly HasThrottle: boolean;
  readonly IsPartial: boolean;
  readonly Http?: { HttpURL?: string; HttpStatus?: number; HttpMethod?: string; UserAgent?: string; ClientIp?: string };
  readonly Annotations: Record<string, { AnnotationValue: AnnotationValue; ServiceIds: ServiceId[] }[]>;
  readonly Users: never[];
  readonly ServiceIds: ServiceId[];
  readonly ResourceARNs: { ARN: string }[];
  readonly InstanceIds: never[];
  readonly AvailabilityZones: never[];
  readonly EntryPoint?: ServiceId;
  readonly FaultRootCauses: never[];
  readonly ErrorRootCauses: never[];
  readonly ResponseTimeRootCauses: never[];
  readonly Revision: number;
}

/** A summary with the times the store indexes it by (epoch seconds). */
export interface IndexedSummary {
  readonly summary: TraceSummary;
  /** Start of the entry segment (TimeRangeType TraceId). */
  readonly startTime: number;
  /** Latest end of any segment (TimeRangeType Service). */
  readonly endTime: number;
}

function isDoc(x: unknown): x is SegmentDocument {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function childrenOf(d: SegmentDocument): SegmentDocument[] {
  return Array.isArray(d.subsegments) ? d.subsegments.filter(isDoc) : [];
}

/** Visits `d` and all its embedded subsegments, depth first (bounded depth: documents come from clients). */
function walk(d: SegmentDocument, fn: (d: SegmentDocument) => void, depth = 0): void {
  fn(d);
  if (depth > 64) return;
  for (const c of childrenOf(d)) walk(c, fn, depth + 1);
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The trace's documents as X-Ray returns them: segments (ordered by start time) with each
 * independent subsegment embedded under its parent. Subsegments whose parent is not (yet) stored
 * are returned as documents of their own rather than dropped.
 */
export function mergeDocuments(pieces: readonly SegmentDocument[]): SegmentDocument[] {
  const clone = (d: SegmentDocument) => structuredClone(d);
  const segments = pieces.filter((p) => p.type !== 'subsegment').map(clone);
  let pending = pieces.filter((p) => p.type === 'subsegment').map(clone);
  pending.sort((a, b) => a.start_time - b.start_time);
  const byId = new Map<string, SegmentDocument>();
  const index = (d: SegmentDocument) =>
    walk(d, (x) => {
      if (typeof x.id === 'string' && !byId.has(x.id)) byId.set(x.id, x);
    });
  segments.forEach(index);
  // Parents may themselves be independent subsegments arriving in any order: repeat until stable.
  for (let progress = true; progress && pending.length > 0; ) {
    progress = false;
    const rest: SegmentDocument[] = [];
    for (const s of pending) {
      // `byId` holds only documents already in the tree (copies), never a pending one itself.
      const parent = s.parent_id === undefined ? undefined : byId.get(s.parent_id);
      if (!parent) {
        rest.push(s);
        continue;
      }
      const embedded: SegmentDocument = { ...s };
      delete embedded.type;
      delete embedded.trace_id;
      delete embedded.parent_id;
      const list = childrenOf(parent).filter((c) => c.id !== s.id);
      list.push(embedded);
      list.sort((a, b) => a.start_time - b.start_time);
      parent.subsegments = list;
      byId.delete(s.id);
      index(embedded);
      progress = true;
    }
    pending = rest;
  }
  return [...segments, ...pending].sort((a, b) => a.start_time - b.start_time || a.id.localeCompare(b.id));
}

function serviceIdOf(d: SegmentDocument): ServiceId {
  const account = d.aws?.account_id;
  const out: { Name: string; Names: string[]; Type?: string; AccountId?: string } = { Name: d.name, Names: [d.name] };
  if (typeof d.origin === 'string') out.Type = d.origin;
  if (typeof account === 'string') out.AccountId = account;
  return out;
}

/** The downstream service a subsegment stands for, if it is a call to one (`namespace` aws or remote). */
function inferredServiceOf(d: SegmentDocument): ServiceId | undefined {
  if (d.namespace === 'aws') return { Name: d.name, Names: [d.name], Type: `AWS::${d.name}` };
  if (d.namespace === 'remote') return { Name: d.name, Names: [d.name], Type: 'remote' };
  return undefined;
}

const serviceKey = (s: ServiceId) => `${s.Name ?? ''}\u0000${s.Type ?? ''}\u0000${s.AccountId ?? ''}`;

/** The entry (root) segment: no parent, or a parent that is not in this trace (a caller outside it); the earliest. */
function entrySegment(segments: readonly SegmentDocument[]): SegmentDocument | undefined {
  const ids = new Set<string>();
  for (const s of segments) walk(s, (x) => ids.add(x.id));
  const roots = segments.filter((s) => s.type !== 'subsegment' && (s.parent_id === undefined || !ids.has(s.parent_id)));
  return [...roots].sort((a, b) => a.start_time - b.start_time)[0];
}

/** Summarises the stored pieces of trace `traceId`; `revision` counts the updates the trace received. */
export function summarize(traceId: string, pieces: readonly SegmentDocument[], revision: number): IndexedSummary {
  const merged = mergeDocuments(pieces);
  const entry = entrySegment(merged);
  let minStart = Infinity;
  let maxEnd = -Infinity;
  let hasError = false;
  let hasFault = false;
  let hasThrottle = false;
  let partial = false;
  const services = new Map<string, ServiceId>();
  const arns = new Set<string>();
  const annotations: Record<string, { AnnotationValue: AnnotationValue; ServiceIds: ServiceId[] }[]> = {};
  const seenAnnotation = new Set<string>();

  for (const top of merged) {
    const owner = top.type === 'subsegment' ? undefined : serviceIdOf(top);
    if (owner) services.set(serviceKey(owner), owner);
    walk(top, (d) => {
      if (Number.isFinite(d.start_time)) minStart = Math.min(minStart, d.start_time);
      if (typeof d.end_time === 'number' && Number.isFinite(d.end_time)) maxEnd = Math.max(maxEnd, d.end_time);
      if (d.in_progress === true) partial = true;
      if (d.error === true) hasError = true;
      if (d.fault === true) hasFault = true;
      if (d.throttle === true) hasThrottle = true;
      if (typeof d.resource_arn === 'string' && d.resource_arn) arns.add(d.resource_arn);
      if (d !== top) {
        const inferred = inferredServiceOf(d);
        if (inferred) services.set(serviceKey(inferred), inferred);
      }
      if (isDoc(d.annotations)) {
        for (const [key, v] of Object.entries(d.annotations)) {
          let value: AnnotationValue;
          if (typeof v === 'boolean') value = { BooleanValue: v };
          else if (typeof v === 'number' && Number.isFinite(v)) value = { NumberValue: v };
          else if (typeof v === 'string') value = { StringValue: v };
          else continue;
          const k = `${key}\u0000${JSON.stringify(value)}`;
          if (seenAnnotation.has(k)) continue;
          seenAnnotation.add(k);
          (annotations[key] ??= []).push({ AnnotationValue: value, ServiceIds: owner ? [owner] : [] });
        }
      }
    });
  }
  if (!Number.isFinite(minStart)) minStart = 0;
  const start = entry?.start_time ?? minStart;
  const entryEnd = typeof entry?.end_time === 'number' ? entry.end_time : undefined;
  if (!Number.isFinite(maxEnd)) maxEnd = entryEnd ?? start;
  if (!entry || entryEnd === undefined) partial = true;

  const summary: {
    -readonly [K in keyof TraceSummary]: TraceSummary[K];
  } = {
    Id: traceId,
    StartTime: start,
    Duration: round3(Math.max(0, maxEnd - start)),
    ResponseTime: round3(Math.max(0, (entryEnd ?? maxEnd) - start)),
    HasFault: hasFault,
    HasError: hasError,
    HasThrottle: hasThrottle,
    IsPartial: partial,
    Annotations: annotations,
    Users: [],
    ServiceIds: [...services.values()],
    ResourceARNs: [...arns].map((ARN) => ({ ARN })),
    InstanceIds: [],
    AvailabilityZones: [],
    FaultRootCauses: [],
    ErrorRootCauses: [],
    ResponseTimeRootCauses: [],
    Revision: revision,
  };
  if (entry) {
    summary.EntryPoint = serviceIdOf(entry);
    const http = entry.http;
    if (isDoc(http)) {
      const req: Record<string, unknown> = isDoc(http.request) ? http.request : {};
      const res: Record<string, unknown> = isDoc(http.response) ? http.response : {};
      const h: NonNullable<TraceSummary['Http']> = {};
      if (typeof req.url === 'string') h.HttpURL = req.url;
      if (typeof res.status === 'number') h.HttpStatus = res.status;
      if (typeof req.method === 'string') h.HttpMethod = req.method;
      if (typeof req.user_agent === 'string') h.UserAgent = req.user_agent;
      if (typeof req.client_ip === 'string') h.ClientIp = req.client_ip;
      summary.Http = h;
    }
  }
  return { summary, startTime: start, endTime: maxEnd };
}
