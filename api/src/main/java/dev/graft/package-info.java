/**
 * The entry points users call ({@link dev.graft.Graft}: {@code convert}, {@code merge}) and the exception types
 * every failure a user can cause is reported as: {@link dev.graft.GraftException} and its subtypes, each
 * naming the file, the tensor and what was expected. The exceptions depend on nothing else in Graft.
 */
package dev.graft;
