/**
 * The {@code graft} command line: one picocli command per operation, each a thin layer over the API.
 */
package dev.graft.cli;
