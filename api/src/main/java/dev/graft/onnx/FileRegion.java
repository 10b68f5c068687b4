package dev.graft.onnx;

import java.nio.file.Path;

/** A byte range of a checked external data file: a pass-through copy moves it kernel-side, unmapped. */
record FileRegion(Path file, long offset, long length) {
}
