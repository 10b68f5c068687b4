package dev.graft.moe;

import dev.graft.GraftIoException;
import dev.graft.IncompatibleModelsException;
import dev.graft.data.NpyArray;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * WEMoE routers trained elsewhere (the reference code trains them by test-time entropy minimisation), read from a
 * folder of NumPy arrays in PyTorch's {@code nn.Linear} layout, one set per router group ({@code layer.3}, or the
 * module path of a layer outside numbered layers): {@code GROUP.fc1.weight.npy} ({@code [hidden, width]}),
 * {@code GROUP.fc1.bias.npy} ({@code [hidden]}), {@code GROUP.fc2.weight.npy} ({@code [experts, hidden]}),
 * {@code GROUP.fc2.bias.npy} ({@code [experts]}); without the {@code fc1} files the router is linear and
 * {@code fc2.weight} is {@code [experts, width]}. {@code numpy.save(f, linear.weight.detach().numpy())} writes them.
 */
final class RouterFiles {
    private RouterFiles() {
    }

    /**
     * The routers of {@code groups} (name → input width) for {@code experts} experts, read from {@code folder}.
     *
     * @throws GraftIoException if a file is missing or cannot be read
     * @throws IncompatibleModelsException naming the file if an array's shape is not the one expected
     */
    static Map<String, Router> read(Path folder, Map<String, Integer> groups, int experts) {
        Map<String, Router> out = new LinkedHashMap<>();
        groups.forEach((group, width) -> {
            Path fc1 = folder.resolve(group + ".fc1.weight.npy");
            int hidden = 0;
            float[] w1 = null;
            float[] b1 = null;
            if (Files.exists(fc1)) {
                NpyArray a = array(fc1);
                if (a.shape().length != 2 || a.shape()[1] != width) {
                    throw shape(fc1, a, "[hidden, " + width + "] (router group " + group + " reads width " + width
                            + ")");
                }
                hidden = (int) a.shape()[0];
                w1 = transposed(a.floats(), hidden, width);
                b1 = vector(folder.resolve(group + ".fc1.bias.npy"), hidden);
            }
            int in = hidden > 0 ? hidden : width;
            Path fc2 = folder.resolve(group + ".fc2.weight.npy");
            NpyArray a = array(fc2);
            if (a.shape().length != 2 || a.shape()[0] != experts || a.shape()[1] != in) {
                throw shape(fc2, a, "[" + experts + ", " + in + "] (" + experts + " experts, " + (hidden > 0
                        ? "fc1's " + hidden + " hidden units" : "input width " + width + ", no fc1") + ")");
            }
            out.put(group, new Router.Mlp(w1, b1, hidden, transposed(a.floats(), experts, in),
                    vector(folder.resolve(group + ".fc2.bias.npy"), experts), width, experts));
        });
        return out;
    }

    /** Writes {@code routers} to {@code folder} as {@link #read} reads them. */
    static void write(Path folder, Map<String, Router.Mlp> routers) {
        try {
            Files.createDirectories(folder);
        } catch (IOException e) {
            throw new GraftIoException(folder, "created", e);
        }
        routers.forEach((group, r) -> {
            int in = r.hidden() > 0 ? r.hidden() : r.width();
            if (r.hidden() > 0) {
                NpyArray.writeFloats(folder.resolve(group + ".fc1.weight.npy"), transposed(r.fc1(), r.width(),
                        r.hidden()), r.hidden(), r.width());
                NpyArray.writeFloats(folder.resolve(group + ".fc1.bias.npy"), r.fc1Bias(), r.hidden());
            }
            NpyArray.writeFloats(folder.resolve(group + ".fc2.weight.npy"), transposed(r.fc2(), in, r.experts()),
                    r.experts(), in);
            NpyArray.writeFloats(folder.resolve(group + ".fc2.bias.npy"), r.fc2Bias(), r.experts());
        });
    }

    private static NpyArray array(Path file) {
        if (!Files.exists(file)) {
            throw new GraftIoException(file, "read", new NoSuchFileException(file.toString()));
        }
        NpyArray a = NpyArray.read(file);
        if (a.floats() == null) {
            throw new IncompatibleModelsException(file, null, "holds integers; a router's weights are float32 or "
                    + "float64");
        }
        return a;
    }

    private static float[] vector(Path file, int length) {
        NpyArray a = array(file);
        if (a.shape().length != 1 || a.shape()[0] != length) {
            throw shape(file, a, "[" + length + "]");
        }
        return a.floats();
    }

    private static IncompatibleModelsException shape(Path file, NpyArray a, String expected) {
        return new IncompatibleModelsException(file, null, "has shape " + Arrays.toString(a.shape())
                + "; a router here needs " + expected);
    }

    /** {@code [rows, cols]} transposed to {@code [cols, rows]}. */
    private static float[] transposed(float[] v, int rows, int cols) {
        float[] t = new float[v.length];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = v[i * cols + j];
            }
        }
        return t;
    }
}
