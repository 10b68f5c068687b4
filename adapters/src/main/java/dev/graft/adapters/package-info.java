/**
 * LoRA adapters (Hu et al., ICLR 2022): PEFT and safetensors interop, apply, compose, extract, run-time
 * adapters, factors shared across layers, and recursive models with layer-wise LoRA.
 */
package dev.graft.adapters;
