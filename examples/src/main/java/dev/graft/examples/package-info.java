/**
 * Runnable examples on real models and data, one class per use case; they produce the README's tables.
 */
package dev.graft.examples;
