/**
 * gauge-transport: estimate the gauge between transformer checkpoints (signed permutations of the residual stream
 * for RMSNorm models, permutations times a global sign for LayerNorm models) and move coordinate-indexed objects
 * with it. Conventions: GAUGE.md.
 */
export { Gauge, gaugeFromArrays, readGauge } from './gauge';
export type { GaugeAgreement, GaugeMetadata, Group, RandomGaugeOptions } from './gauge';
export { solveAssignment, solveAssignmentSync } from './assignment';
export type { AssignmentResult, SolveOptions, Solver } from './assignment';
export { matchGauge, matchGaugeSync, METHODS } from './matching';
export type { MatchOptions, MatchResult, Method } from './matching';
export { GaugeTransportError, errorCode } from './errors';
import native = require('./native');

/** Reads a 2-D float32/float64 `.npy` matrix as row-major float32. */
export const readNpyMatrix = native.readNpyMatrix;
/** Writes a row-major float32 array as `.npy`, atomically. */
export const writeNpy = native.writeNpy;
/** Pearson correlation matrix of paired activations, off the event loop. */
export const correlation = native.correlation;
export { loadModel, allSites, rotateCheckpoint, convertGguf } from './model';
export type { Model, Site, ForwardOptions, ForwardResult, HiddenState, LoadOptions } from './model';
export { readProbe, defaultProbe, defaultProbeText, packProbe, loadProbe } from './probe';
export { PROBE_KINDS, DEFAULT_PROBE_KIND, DEFAULT_PROBE_TEXT_PATH, PROBE_EXTENSIONS } from './probe';
export type { Probe, ProbeFormat, ProbeTokenizer, ReadProbeOptions, DefaultProbe, DefaultProbeOptions } from './probe';
export type { ProbeKind, PackOptions, PackedProbe, ProbeBatch, LoadProbeOptions } from './probe';
export { align, collectStats, resolveSites, POOLS } from './align';
export { train, readCorpus, BYTE_TOKENIZER } from './train';
export { Trajectory, CheckpointGraph, ActivationCache, estimateTrajectory, readManifest, probeDesign, contentHash } from './trajectory';
export type { TrajectoryOptions, TrajectoryResult, Manifest, GaugeEdge, Composition, CycleReport } from './trajectory';
export type { TrainOptions, TrainProgress, TrainSummary } from './train';
export type { AlignOptions, AlignResult, AlignProgress, StatsOptions, PairStats, Pool, Agreement } from './align';
export { transportSteering, transportSae, transportNeurons, transportOptimizer, mergeCheckpoints, emitMergekit, moveEntries, moveVector } from './transport';
export type { TransportFileOptions, TransportSaeOptions, TransportNeuronsOptions, ScoreKind, CoordinateEntry, MergeOptions, EmitMergekitOptions, MergekitMethod } from './transport';
export { siteActivations, meanRows, trainSae, evaluateSae, meanResidual, steeringVector, steeringEffect, logitContrast, topK, overlap } from './tools';
export type { ActivationOptions, TrainSaeOptions, TrainSaeResult, SaeMetrics, LogitContrast, SteeringEffectOptions } from './tools';
export { audit, parseClaims, readClaims, moveClaim, holds } from './audit';
export type { AuditOptions, AuditReport, ClaimResult, Verdict, Claim, ClaimsFile, CoordinatesClaim, TopKClaim, Behaviour } from './audit';
export { writeAlignReport, writeTrajectoryReport, writeAuditReport, writeExperimentReport } from './report';
export type { Section } from './report';
/** Paired statistics to a gauge with its diagnostics, in one call off the event loop (pooling, prior, matching). */
export const estimateGauge = native.estimateGauge;
/** Describes a checkpoint directory or GGUF file: family, shape, dtypes, parameters, gain statistics, gauge group. */
export const inspectModel = native.inspectModel;
/** Re-charts a checkpoint by a gauge into a new directory (hidden states become `g·h`, outputs unchanged). */
export const applyGauge = native.applyGauge;
/** Writes a random checkpoint (generic gains) for a preset or a `config.json`. */
export const initCheckpoint = native.initCheckpoint;
/** Writes a seeded Gaussian perturbation of a checkpoint (for experiments). */
export const perturbCheckpoint = native.perturbCheckpoint;
/** A model's own tokenizer (`tokenizer.json` or a GGUF's metadata). */
export const Tokenizer = native.Tokenizer;
export { defaultMemoryBudget, parseBytes } from './memory';
export { resolveShard } from './shard';
export type { Shard } from './shard';
/** The canonical chart of a checkpoint: gauge fixing from the checkpoint alone (coordinates by norm gain, signs by the token embedding), with its ties. */
export const canonicalGauge = native.canonicalGauge;
