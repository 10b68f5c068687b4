/**
 * LoRA adapters (PEFT interop, apply, compose, extract, shared across layers). Not built yet: see the
 * issues for LoRA adapters and shared LoRA. This module exists now so that the layout is stable.
 */
package dev.graft.adapters;
