package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;

/** Test helpers that rewrite tensors of a tiny model into other storage forms. */
final class ModelFiles {
    private ModelFiles() {
    }

    /** Moves initializer {@code name} of {@code m} to external data at {@code location}, with the given range. */
    static ModelProto external(ModelProto m, String name, String location, long offset, long length) {
        ModelProto.Builder b = m.toBuilder();
        for (TensorProto.Builder t : b.getGraphBuilder().getInitializerBuilderList()) {
            if (t.getName().equals(name)) {
                t.clearRawData().setDataLocation(TensorProto.DataLocation.EXTERNAL)
                        .addExternalData(entry("location", location))
                        .addExternalData(entry("offset", Long.toString(offset)))
                        .addExternalData(entry("length", Long.toString(length)));
            }
        }
        return b.build();
    }

    static StringStringEntryProto entry(String k, String v) {
        return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    /** The raw_data of initializer {@code name}. */
    static byte[] rawData(ModelProto m, String name) {
        return m.getGraph().getInitializerList().stream().filter(t -> t.getName().equals(name)).findFirst()
                .orElseThrow().getRawData().toByteArray();
    }
}
