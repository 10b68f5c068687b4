/**
 * Routed merges, written as ONNX graphs: weight-ensembling mixtures of experts (WEMoE, Tang et al., ICML 2024),
 * where chosen dense layers compute {@code W(x) = W₀ + Σₜ rₜ(x)·τₜ} with a router per layer, and the rest of the
 * model is a static merge. {@link dev.graft.moe.WeightEnsemblingMoe} plans and writes one;
 * {@link dev.graft.moe.RouterSource} says where its routers come from (fitted to task-labelled samples, task
 * prototypes, a file, or a constant); {@link dev.graft.moe.RoutingAccuracy} measures how often they pick each
 * sample's own task.
 */
package dev.graft.moe;
