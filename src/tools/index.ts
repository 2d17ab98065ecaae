/**
 * The tools that transport moves, made and measured: residual activations at a site, SAEs (fit, evaluate),
 * steering vectors (difference of means, effect on a logit contrast) and attribution lists (top-k, overlap).
 */
export { siteActivations, meanRows } from './activations';
export type { ActivationOptions } from './activations';
export { trainSae, evaluateSae } from './sae';
export type { TrainSaeOptions, TrainSaeResult, SaeMetrics } from './sae';
export { meanResidual, steeringVector, steeringEffect, logitContrast } from './steering';
export type { LogitContrast, SteeringEffectOptions } from './steering';
export { topK, overlap } from './attribution';
