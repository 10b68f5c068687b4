package dev.graft.adapters;

import com.google.flatbuffers.FlatBufferBuilder;
import dev.graft.tensor.ElementType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;

/**
 * ONNX Runtime's LoRA adapter file ({@code .onnx_adapter}, loaded by {@code OrtLoraAdapter} and activated per run
 * with {@code RunOptions.addActiveLoraAdapter}): a FlatBuffers table {@code Adapter {format_version,
 * adapter_version, model_version, parameters: [Parameter {name, dims, data_type, raw_data}]}} with file identifier
 * {@code TORT} (schema {@code onnxruntime/lora/adapter_format/adapter_schema.fbs}, format version 1). Each
 * parameter's name is the model input it overrides; data is float32, little-endian, 8-byte aligned.
 */
public final class OnnxAdapterFile {
    /** The format version ONNX Runtime reads. */
    static final int FORMAT_VERSION = 1;

    /** One parameter: the input it replaces, its shape and row-major values. */
    public record Parameter(String name, long[] dims, float[] values) {
    }

    private OnnxAdapterFile() {
    }

    /** Writes {@code parameters} to {@code target} (through a temporary file moved into place). */
    public static void write(Path target, int adapterVersion, List<Parameter> parameters) {
        FlatBufferBuilder fb = new FlatBufferBuilder(1024);
        int[] offsets = new int[parameters.size()];
        for (int p = 0; p < offsets.length; p++) {
            Parameter param = parameters.get(p);
            int name = fb.createString(param.name());
            fb.startVector(8, param.dims().length, 8);
            for (int i = param.dims().length - 1; i >= 0; i--) {
                fb.addLong(param.dims()[i]);
            }
            int dims = fb.endVector();
            ByteBuffer raw = ByteBuffer.allocate(4 * param.values().length).order(ByteOrder.LITTLE_ENDIAN);
            raw.asFloatBuffer().put(param.values());
            fb.startVector(1, raw.capacity(), 8); // force_align: 8
            for (int i = raw.capacity() - 1; i >= 0; i--) {
                fb.addByte(raw.get(i));
            }
            int data = fb.endVector();
            fb.startTable(4);
            fb.addOffset(3, data, 0);
            fb.addOffset(1, dims, 0);
            fb.addOffset(0, name, 0);
            fb.addInt(2, ElementType.FLOAT.code(), 0);
            offsets[p] = fb.endTable();
        }
        fb.startVector(4, offsets.length, 4);
        for (int p = offsets.length - 1; p >= 0; p--) {
            fb.addOffset(offsets[p]);
        }
        int list = fb.endVector();
        fb.startTable(4);
        fb.addOffset(3, list, 0);
        fb.addInt(0, FORMAT_VERSION, 0);
        fb.addInt(1, adapterVersion, 0);
        fb.addInt(2, 0, 0);
        int root = fb.endTable();
        fb.finish(root, "TORT");
        byte[] bytes = fb.sizedByteArray();
        AtomicFile.write(target, out -> AtomicFile.writeFully(out, ByteBuffer.wrap(bytes)));
    }
}
