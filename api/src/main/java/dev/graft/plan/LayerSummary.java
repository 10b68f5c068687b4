package dev.graft.plan;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Diagnostics of all tensors of one layer (or of the tensors outside numbered layers): each task vector's
 * norm over the layer, the size-weighted sign-conflict rate, each model's outvoted and trimmed fractions, the
 * mean cosine similarity over model pairs and the pairwise cosines (of the layer's concatenated task vectors).
 */
public record LayerSummary(String layer, int tensors, long size, List<Double> norms, Double signConflict,
                           List<Double> outvoted, List<Double> trimmed, Double meanCosine,
                           List<List<Double>> cosines) {

    /** Groups tensor diagnostics by layer, in order of first appearance. */
    public static List<LayerSummary> of(List<TensorDiagnostics> tensors) {
        Map<String, List<TensorDiagnostics>> byLayer = new LinkedHashMap<>();
        for (TensorDiagnostics d : tensors) {
            byLayer.computeIfAbsent(d.layer() == null ? "no layer" : "layer " + d.layer(), k -> new ArrayList<>()).add(d);
        }
        List<LayerSummary> out = new ArrayList<>();
        byLayer.forEach((name, list) -> out.add(summarise(name, list)));
        return out;
    }

    private static LayerSummary summarise(String name, List<TensorDiagnostics> list) {
        int m = list.get(0).norms().size();
        double[][] dots = new double[m][m];
        double[] trimmedWeighted = new double[m];
        boolean[] hasTrim = new boolean[m];
        double[] outvotedWeighted = new double[m];
        boolean[] hasOutvoted = new boolean[m];
        long size = 0;
        double conflicts = 0;
        boolean hasConflict = false;
        for (TensorDiagnostics d : list) {
            size += d.size();
            for (int a = 0; a < m; a++) {
                for (int c = 0; c < m; c++) {
                    Double cos = d.cosines().get(a).get(c);
                    dots[a][c] += cos == null ? 0 : cos * d.norms().get(a) * d.norms().get(c);
                }
                Double t = d.trimmed().get(a);
                if (t != null) {
                    trimmedWeighted[a] += t * d.size();
                    hasTrim[a] = true;
                }
                Double o = d.outvoted() == null ? null : d.outvoted().get(a);
                if (o != null) {
                    outvotedWeighted[a] += o * d.size();
                    hasOutvoted[a] = true;
                }
            }
            if (d.signConflict() != null) {
                conflicts += d.signConflict() * d.size();
                hasConflict = true;
            }
        }
        List<Double> norms = new ArrayList<>();
        List<Double> trimmed = new ArrayList<>();
        List<Double> outvoted = new ArrayList<>();
        for (int a = 0; a < m; a++) {
            norms.add(Math.sqrt(dots[a][a]));
            trimmed.add(hasTrim[a] ? trimmedWeighted[a] / size : null);
            outvoted.add(hasOutvoted[a] ? outvotedWeighted[a] / size : null);
        }
        double cosSum = 0;
        int pairs = 0;
        List<List<Double>> cosines = new ArrayList<>();
        for (int a = 0; a < m; a++) {
            List<Double> row = new ArrayList<>();
            for (int c = 0; c < m; c++) {
                double denom = norms.get(a) * norms.get(c);
                row.add(denom > 0 ? dots[a][c] / denom : null);
                if (denom > 0 && c > a) {
                    cosSum += dots[a][c] / denom;
                    pairs++;
                }
            }
            cosines.add(row);
        }
        return new LayerSummary(name, list.size(), size, norms, hasConflict ? conflicts / size : null, outvoted,
                trimmed, pairs == 0 ? null : cosSum / pairs, cosines);
    }
}
