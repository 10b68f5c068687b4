package dev.graft.adapters;

import dev.graft.linalg.MatrixProducts;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Shares one LoRA factor across the layers of an adapter ({@link SharedFactor}): its modules are grouped by kind
 * (the name with the layer number replaced by {@code *}: {@code encoder.layer.*.attention.self.query}), and each
 * kind with modules in two or more layers of equal shape gets one {@code A} shared by all its layers and a
 * {@code B} per layer, fitted to the layers' full updates {@code s·B·A}. Written as a standard PEFT adapter (the
 * shared {@code A} repeated in every layer, scale 1; trained biases carried over as they are); the report gives per kind the parameters before and after
 * (counting the shared factor once) and each layer's relative squared error.
 */
public final class LoraShare {
    private static final Pattern LAYER = Pattern.compile("(^|\\.)(layer|layers|h|block|blocks)\\.(\\d+)(?=\\.|$)");

    /** One kind of module: its layers, shared rank, parameters before and after, and each layer's error. */
    public record Kind(String kind, List<String> modules, int rank, long parametersBefore, long parametersAfter,
                       double[] relativeError) {
    }

    private final Path adapter;
    private int rank = 16;

    private LoraShare(Path adapter) {
        this.adapter = adapter;
    }

    /** Shares factors within the PEFT adapter in {@code folder}. */
    public static LoraShare from(Path folder) {
        return new LoraShare(folder);
    }

    /** The rank of each shared factor (default 16). */
    public LoraShare rank(int r) {
        if (r < 1) {
            throw new IllegalArgumentException("rank must be positive, got " + r);
        }
        this.rank = r;
        return this;
    }

    /** The kind of {@code module}: its name with the layer number replaced by {@code *}, or null if it has none. */
    static String kindOf(String module) {
        Matcher m = LAYER.matcher(module);
        return m.find() ? module.substring(0, m.start(3)) + "*" + module.substring(m.end(3)) : null;
    }

    /** Fits the shared factors and writes the adapter to {@code folder}. */
    public List<Kind> writeTo(Path folder) {
        PeftAdapter in = PeftAdapter.read(adapter);
        Map<String, List<LoraModule>> kinds = new LinkedHashMap<>();
        Map<String, LoraModule> out = new LinkedHashMap<>();
        for (LoraModule m : in.modules().values()) {
            String kind = kindOf(m.name());
            kinds.computeIfAbsent(kind == null ? m.name() : kind, k -> new ArrayList<>()).add(m);
        }
        List<Kind> report = new ArrayList<>();
        try (MatrixProducts products = new MatrixProducts(Runtime.getRuntime().availableProcessors())) {
            for (Map.Entry<String, List<LoraModule>> e : kinds.entrySet()) {
                List<LoraModule> ms = e.getValue();
                LoraModule first = ms.get(0);
                boolean shareable = ms.size() > 1
                        && ms.stream().allMatch(m -> m.in() == first.in() && m.out() == first.out());
                if (!shareable) {
                    ms.forEach(m -> out.put(m.name(), m));
                    continue;
                }
                SharedFactor.Fit fit = SharedFactor.fit(ms.stream().map(LoraModule::delta).toList(), first.out(),
                        first.in(), rank, products);
                long before = 0;
                for (int l = 0; l < ms.size(); l++) {
                    LoraModule m = ms.get(l);
                    before += (long) m.rank() * (m.in() + m.out());
                    out.put(m.name(), new LoraModule(m.name(), fit.rank(), m.in(), m.out(), fit.a(), fit.b().get(l), 1));
                }
                long after = (long) fit.rank() * first.in() + (long) ms.size() * fit.rank() * first.out();
                report.add(new Kind(e.getKey(), ms.stream().map(LoraModule::name).toList(), fit.rank(), before, after,
                        fit.relativeError()));
            }
        }
        int r = out.values().stream().mapToInt(LoraModule::rank).max().orElseThrow();
        Map<String, Integer> ranks = new LinkedHashMap<>();
        Map<String, Double> alphas = new LinkedHashMap<>();
        out.values().forEach(m -> {
            if (m.rank() != r || m.scale() != 1) {
                ranks.put(m.name(), m.rank());
                alphas.put(m.name(), m.scale() * m.rank());
            }
        });
        new PeftAdapter(new PeftConfig(r, r, false, false, ranks, alphas, in.config().targetModules(),
                in.config().bias(), Map.of()), out, in.biases()).write(folder);
        return report;
    }
}
