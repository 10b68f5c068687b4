/**
 * Routed merges, written as ONNX graphs: chosen dense layers compute {@code W(x) = R + Σₜ cₜ(x)·(Wₜ − R)} with
 * coefficients from a router, and the rest of the model is a static merge. {@link dev.graft.moe.RoutedMerge} plans
 * and writes one, with two presets: weight-ensembling MoE (WEMoE, Tang et al., ICML 2024: task vectors, a router
 * per layer) and Mediator-style routing (the average as the dense expert, sparse residual experts on the most
 * conflicting layers, one task classifier routing by its confidence); {@link dev.graft.moe.RouterSource} says where
 * routers come from (fitted to task-labelled samples, task prototypes, a file, or a constant);
 * {@link dev.graft.moe.RoutingAccuracy} measures how often they pick each sample's own task.
 */
package dev.graft.moe;
