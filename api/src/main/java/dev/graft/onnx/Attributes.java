package dev.graft.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import java.util.Optional;

/** Reading a node's attributes by name, with the default the ONNX operator defines when it is absent. */
public final class Attributes {
    private Attributes() {
    }

    /** The attribute {@code name} of {@code node}, if present. */
    public static Optional<AttributeProto> get(NodeProto node, String name) {
        for (AttributeProto a : node.getAttributeList()) {
            if (a.getName().equals(name)) {
                return Optional.of(a);
            }
        }
        return Optional.empty();
    }

    /** An integer attribute, or {@code otherwise}. */
    public static long getInt(NodeProto node, String name, long otherwise) {
        return get(node, name).map(AttributeProto::getI).orElse(otherwise);
    }

    /** A float attribute, or {@code otherwise}. */
    public static float getFloat(NodeProto node, String name, float otherwise) {
        return get(node, name).map(AttributeProto::getF).orElse(otherwise);
    }

    /** An integer-list attribute, or null if absent. */
    public static long[] getInts(NodeProto node, String name) {
        return get(node, name).map(a -> a.getIntsList().stream().mapToLong(Long::longValue).toArray()).orElse(null);
    }

    /** A string attribute, or {@code otherwise}. */
    public static String getString(NodeProto node, String name, String otherwise) {
        return get(node, name).map(a -> a.getS().toStringUtf8()).orElse(otherwise);
    }
}
