package dev.graft.align;

import dev.graft.data.NpyArray;
import dev.graft.verify.ModelRunner;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;

/** The digits test split of {@code examples/recipes/heterogeneous}, and a model's logits and accuracy on it. */
final class HeterogeneousDigits {
    static final Path DIR = Path.of("../examples/recipes/heterogeneous");

    private HeterogeneousDigits() {
    }

    static float[] logits(Path model) {
        NpyArray x = NpyArray.read(DIR.resolve("test_x.npy"));
        try (ModelRunner r = new ModelRunner(model, 1)) {
            return r.run(Map.of("x", ModelRunner.Input.of(x.floats(), x.floats().length / 64, 64)), Set.of("logits"))
                    .get("logits").values();
        }
    }

    static double accuracy(Path model) {
        float[] l = logits(model);
        long[] y = NpyArray.read(DIR.resolve("test_y.npy")).longs();
        int right = 0;
        for (int i = 0; i < y.length; i++) {
            int best = 0;
            for (int c = 1; c < 10; c++) {
                best = l[i * 10 + c] > l[i * 10 + best] ? c : best;
            }
            right += best == y[i] ? 1 : 0;
        }
        return right / (double) y.length;
    }
}
