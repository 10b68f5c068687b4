/**
 * A model merged with Graft, served by the libraries JVM teams already embed text with: {@link
 * dev.graft.examples.clients.MergedEmbeddingModel} averages two embedding models of one architecture through Graft's
 * published API (a model soup) into a folder holding {@code model.onnx} and the shared {@code tokenizer.json}, the
 * shape LangChain4j's in-process {@code OnnxEmbeddingModel} and DJL's ONNX Runtime engine load. This package lives in
 * a plain Maven project outside the Graft build, depending on the installed artifacts through {@code graft-bom}, so
 * that its tests check what a user's project gets rather than the reactor.
 */
package dev.graft.examples.clients;
