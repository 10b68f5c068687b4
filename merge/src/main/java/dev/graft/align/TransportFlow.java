package dev.graft.align;

/**
 * Exact optimal transport with any marginals: the minimum-cost flow that ships {@code alpha[i]} from each of A's
 * units to B's units, {@code beta[j]} arriving at each, at cost {@code C[i, j]} per unit of mass, by successive
 * shortest paths (the primal-dual method; Ahuja, Magnanti and Orlin, "Network Flows", 1993, ch. 9) on a sparse set
 * of candidate arcs, priced out against the whole cost matrix.
 *
 * <p>Candidates: each row's and each column's {@value #CANDIDATES} cheapest arcs, and the arcs of the
 * minimum-cost-first greedy plan (so that the candidates can meet the marginals). On them, node potentials keep every
 * reduced cost {@code C[i, j] + π(i) − π(j)} non-negative; the flow starts from column reduction ({@code π(j)} = the
 * column's cheapest candidate, shipped greedily, as Jonker and Volgenant's assignment solver does); then, phase by
 * phase, Dijkstra's algorithm finds the shortest paths from every row with supply left, the potentials are raised by
 * the distances (every tree arc then costs 0), and each column with demand left, nearest first, is filled along its
 * tree path up to the path's bottleneck (a supply, the demand, or a flow the path sends back). The result is optimal for
 * the candidates; it is optimal for the whole matrix when no arc outside them has a negative reduced cost (the
 * potentials are then a feasible dual with complementary slackness). Otherwise those arcs join the candidates, each
 * row with such an arc is released (its flows undone, its potential raised until none of its arcs costs less than 0,
 * which restores the invariant), and only what was released is shipped anew. A phase costs
 * {@code O(arcs · log(a + b))}. Between bge-small's and e5-small's 1536 FFN units with activation masses a plan takes
 * 2–3 s on one core (34 s for the last layer, whose masses span a factor of 240), against 0.2 s for the assignment
 * that uniform marginals allow.
 */
final class TransportFlow {
    /** The cheapest arcs of each row and each column that start the candidate set. */
    static final int CANDIDATES = 24;
    /** Masses below this are taken as shipped (the marginals are doubles summing to 1). */
    private static final double TOLERANCE = 1e-13;

    private final int a;
    private final int b;
    private final double[] supply;
    private final double[] demand;
    // the candidate arcs, by row (row i's arcs are rowStart[i] until rowStart[i + 1]), and each column's arcs
    private final int[] rowStart;
    private final int[] arcRow;
    private final int[] arcColumn;
    private final double[] arcCost;
    private final double[] flow;
    private final int[] columnStart;
    private final int[] columnArcs;
    // Dijkstra's state: nodes are rows 0..a−1 and columns a..a+b−1; a node's arc from its predecessor (−1: a source)
    private final double[] potential;
    private final double[] distance;
    private final int[] arcIn;
    private final boolean[] settled;
    /** A binary min-heap of (distance, node), entries made stale by later ones skipped. */
    private int[] queue;
    private double[] keys;
    private int queued;

    private TransportFlow(double[] cost, double[] alpha, double[] beta, boolean[] candidate) {
        this.a = alpha.length;
        this.b = beta.length;
        this.supply = alpha.clone();
        this.demand = beta.clone();
        int arcs = 0;
        for (boolean c : candidate) {
            arcs += c ? 1 : 0;
        }
        rowStart = new int[a + 1];
        arcRow = new int[arcs];
        arcColumn = new int[arcs];
        arcCost = new double[arcs];
        flow = new double[arcs];
        columnStart = new int[b + 1];
        columnArcs = new int[arcs];
        int e = 0;
        for (int i = 0; i < a; i++) {
            rowStart[i] = e;
            for (int j = 0; j < b; j++) {
                if (candidate[i * b + j]) {
                    arcRow[e] = i;
                    arcColumn[e] = j;
                    arcCost[e] = cost[i * b + j];
                    columnStart[j + 1]++;
                    e++;
                }
            }
        }
        rowStart[a] = e;
        for (int j = 0; j < b; j++) {
            columnStart[j + 1] += columnStart[j];
        }
        int[] filled = columnStart.clone();
        for (int k = 0; k < arcs; k++) {
            columnArcs[filled[arcColumn[k]]++] = k;
        }
        potential = new double[a + b];
        distance = new double[a + b];
        arcIn = new int[a + b];
        settled = new boolean[a + b];
        queue = new int[4 * (a + b)];
        keys = new double[queue.length];
    }

    /** The optimal plan ({@code [a, b]}, row-major) for {@code cost} between marginals {@code alpha} and {@code beta}. */
    static double[] solve(double[] cost, double[] alpha, double[] beta) {
        int a = alpha.length;
        int b = beta.length;
        boolean[] candidate = cheapest(cost, a, b);
        greedySupport(cost, alpha, beta, candidate);
        double scale = 0;
        for (double c : cost) {
            scale = Math.max(scale, Math.abs(c));
        }
        double tolerance = 1e-12 * scale;
        TransportFlow f = new TransportFlow(cost, alpha, beta, candidate);
        f.reduceColumns();
        int reach = CANDIDATES; // arcs per leftover row and column, doubled each time some mass is left
        while (true) {
            while (f.phase()) {
                // each phase fills columns until a path's bottleneck is reached
            }
            // with mass left, the potentials of what was not reached mean little: price out only a complete flow
            if (f.connectLeftovers(cost, candidate, reach)) {
                reach *= 2;
            } else if (!f.addNegativeArcs(cost, candidate, tolerance)) {
                return f.plan();
            }
            f = f.extendedTo(cost, candidate, tolerance);
        }
    }

    /**
     * This flow on a larger candidate set: the same flows, potentials, supplies and demands, then each row that has an
     * arc of negative reduced cost released (its flows undone, its potential raised until none of its arcs costs less
     * than 0), so that the invariant holds again and only what was released is shipped anew.
     */
    private TransportFlow extendedTo(double[] cost, boolean[] candidate, double tolerance) {
        TransportFlow f = new TransportFlow(cost, supply, demand, candidate);
        double[] shipped = plan();
        System.arraycopy(potential, 0, f.potential, 0, potential.length);
        for (int i = 0; i < a; i++) {
            boolean negative = false;
            for (int e = f.rowStart[i]; e < f.rowStart[i + 1]; e++) {
                f.flow[e] = shipped[i * b + f.arcColumn[e]];
                negative |= f.arcCost[e] + f.potential[i] - f.potential[a + f.arcColumn[e]] < -tolerance;
            }
            if (negative) {
                f.release(i);
            }
        }
        return f;
    }

    /** Undoes row {@code i}'s flows and raises its potential to {@code maxⱼ π(j) − C[i, j]} over its arcs. */
    private void release(int i) {
        double raised = Double.NEGATIVE_INFINITY;
        for (int e = rowStart[i]; e < rowStart[i + 1]; e++) {
            int j = arcColumn[e];
            supply[i] += flow[e];
            demand[j] += flow[e];
            flow[e] = 0;
            raised = Math.max(raised, potential[a + j] - arcCost[e]);
        }
        potential[i] = raised;
    }

    /** Each row's and each column's {@link #CANDIDATES} cheapest arcs (all of them for small problems). */
    private static boolean[] cheapest(double[] cost, int a, int b) {
        boolean[] candidate = new boolean[a * b];
        int[] kept = new int[CANDIDATES];
        for (int i = 0; i < a; i++) {
            int n = smallest(cost, i * b, 1, b, kept);
            for (int k = 0; k < n; k++) {
                candidate[i * b + kept[k]] = true;
            }
        }
        for (int j = 0; j < b; j++) {
            int n = smallest(cost, j, b, a, kept);
            for (int k = 0; k < n; k++) {
                candidate[kept[k] * b + j] = true;
            }
        }
        return candidate;
    }

    /**
     * Marks the arcs of the minimum-cost-first greedy plan (arcs taken cheapest first, each shipping what its row and
     * column still hold): a feasible plan of at most {@code a + b − 1} fairly cheap arcs, so that the candidates can
     * meet the marginals however uneven they are (nearest arcs alone may not: many units can share the same nearest
     * few).
     */
    private static void greedySupport(double[] cost, double[] alpha, double[] beta, boolean[] candidate) {
        int b = beta.length;
        long[] order = new long[cost.length];
        for (int k = 0; k < cost.length; k++) {
            int bits = Float.floatToIntBits((float) cost[k]);
            bits ^= (bits >> 31) & 0x7fffffff; // signed int order = float order
            order[k] = ((long) bits << 32) | k;
        }
        java.util.Arrays.sort(order);
        double[] supply = alpha.clone();
        double[] demand = beta.clone();
        for (long o : order) {
            int k = (int) o;
            int i = k / b;
            int j = k % b;
            if (supply[i] > TOLERANCE && demand[j] > TOLERANCE) {
                double shipped = Math.min(supply[i], demand[j]);
                supply[i] -= shipped;
                demand[j] -= shipped;
                candidate[k] = true;
            }
        }
    }

    /**
     * The indexes {@code t} of the {@code kept.length} smallest of {@code cost[from + t·stride]}, {@code t < n}, into
     * {@code kept} (a max-heap on the cost, so each entry is one comparison with the worst kept); returns how many.
     */
    private static int smallest(double[] cost, int from, int stride, int n, int[] kept) {
        int size = 0;
        for (int t = 0; t < n; t++) {
            double c = cost[from + t * stride];
            if (size < kept.length) {
                int k = size++;
                while (k > 0 && cost[from + kept[(k - 1) / 2] * stride] < c) {
                    kept[k] = kept[(k - 1) / 2];
                    k = (k - 1) / 2;
                }
                kept[k] = t;
            } else if (c < cost[from + kept[0] * stride]) {
                int k = 0;
                while (2 * k + 1 < size) {
                    int child = 2 * k + 1;
                    if (child + 1 < size && cost[from + kept[child + 1] * stride] > cost[from + kept[child] * stride]) {
                        child++;
                    }
                    if (cost[from + kept[child] * stride] <= c) {
                        break;
                    }
                    kept[k] = kept[child];
                    k = child;
                }
                kept[k] = t;
            }
        }
        return size;
    }

    /**
     * Where mass is left that no candidate path could take (the candidates' rows and columns do not meet the marginals:
     * a few units that many others are nearest to), adds each leftover row's {@code k} cheapest arcs to the leftover
     * columns and each leftover column's {@code k} cheapest arcs from the leftover rows (every arc between them when
     * {@code k} covers them), and returns true.
     */
    private boolean connectLeftovers(double[] cost, boolean[] candidate, int k) {
        int[] rows = leftover(supply);
        int[] columns = leftover(demand);
        if (rows.length == 0 || columns.length == 0) {
            return false;
        }
        double[] line = new double[Math.max(rows.length, columns.length)];
        int[] kept = new int[Math.min(k, line.length)];
        for (int i : rows) {
            for (int t = 0; t < columns.length; t++) {
                line[t] = cost[i * b + columns[t]];
            }
            int n = kept.length >= columns.length ? columns.length : smallest(line, 0, 1, columns.length, kept);
            for (int t = 0; t < n; t++) {
                candidate[i * b + columns[kept.length >= columns.length ? t : kept[t]]] = true;
            }
        }
        for (int j : columns) {
            for (int t = 0; t < rows.length; t++) {
                line[t] = cost[rows[t] * b + j];
            }
            int n = kept.length >= rows.length ? rows.length : smallest(line, 0, 1, rows.length, kept);
            for (int t = 0; t < n; t++) {
                candidate[rows[kept.length >= rows.length ? t : kept[t]] * b + j] = true;
            }
        }
        return true;
    }

    /** The indexes whose mass is left. */
    private static int[] leftover(double[] mass) {
        return java.util.stream.IntStream.range(0, mass.length).filter(x -> mass[x] > TOLERANCE).toArray();
    }

    /** Adds the arcs outside the candidates whose reduced cost is below {@code −tolerance}; true if any. */
    private boolean addNegativeArcs(double[] cost, boolean[] candidate, double tolerance) {
        boolean added = false;
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                int k = i * b + j;
                if (!candidate[k] && cost[k] + potential[i] - potential[a + j] < -tolerance) {
                    candidate[k] = true;
                    added = true;
                }
            }
        }
        return added;
    }

    private double[] plan() {
        double[] plan = new double[a * b];
        for (int e = 0; e < flow.length; e++) {
            plan[arcRow[e] * b + arcColumn[e]] += flow[e];
        }
        return plan;
    }

    /** {@code π(j)} = the column's cheapest arc, rows at 0; that arc then ships what it can. */
    private void reduceColumns() {
        for (int j = 0; j < b; j++) {
            int best = -1;
            for (int k = columnStart[j]; k < columnStart[j + 1]; k++) {
                int e = columnArcs[k];
                if (best < 0 || arcCost[e] < arcCost[best]) {
                    best = e;
                }
            }
            if (best < 0) {
                continue;
            }
            potential[a + j] = arcCost[best];
            int i = arcRow[best];
            double shipped = Math.min(supply[i], demand[j]);
            flow[best] += shipped;
            supply[i] -= shipped;
            demand[j] -= shipped;
        }
    }

    /**
     * One phase: shortest paths from the rows with supply left to every node they reach, potentials raised by the
     * distances (unreached nodes by the largest), then each column with demand left, nearest first, filled along its
     * tree path while that path still carries anything; false when nothing more could be shipped.
     */
    private boolean phase() {
        java.util.Arrays.fill(distance, Double.POSITIVE_INFINITY);
        java.util.Arrays.fill(settled, false);
        queued = 0;
        for (int i = 0; i < a; i++) {
            if (supply[i] > TOLERANCE) {
                distance[i] = 0;
                arcIn[i] = -1;
                enqueue(i);
            }
        }
        if (queued == 0) {
            return false;
        }
        int[] order = new int[a + b];
        int count = 0;
        for (int x = nearest(); x >= 0; x = nearest()) {
            settled[x] = true;
            order[count++] = x;
            if (x < a) {
                relaxRow(x);
            } else {
                relaxColumn(x - a);
            }
        }
        double farthest = distance[order[count - 1]];
        for (int x = 0; x < a + b; x++) {
            potential[x] += settled[x] ? distance[x] : farthest;
        }
        boolean shipped = false;
        for (int k = 0; k < count; k++) {
            int x = order[k];
            if (x >= a && demand[x - a] > TOLERANCE) {
                shipped |= ship(x);
            }
        }
        return shipped;
    }

    /** The unsettled node nearest the sources, or −1 when none is reached. */
    private int nearest() {
        while (queued > 0) {
            int x = queue[0];
            double d = keys[0];
            queued--;
            queue[0] = queue[queued];
            keys[0] = keys[queued];
            siftDown();
            if (!settled[x] && d == distance[x]) {
                return x;
            }
        }
        return -1;
    }

    /** Queues {@code x} at its (new) distance; older entries for it are skipped when they surface. */
    private void enqueue(int x) {
        if (queued == queue.length) {
            queue = java.util.Arrays.copyOf(queue, 2 * queued);
            keys = java.util.Arrays.copyOf(keys, 2 * queued);
        }
        int k = queued++;
        double d = distance[x];
        while (k > 0 && keys[(k - 1) / 2] > d) {
            queue[k] = queue[(k - 1) / 2];
            keys[k] = keys[(k - 1) / 2];
            k = (k - 1) / 2;
        }
        queue[k] = x;
        keys[k] = d;
    }

    private void siftDown() {
        int x = queue[0];
        double d = keys[0];
        int k = 0;
        while (2 * k + 1 < queued) {
            int c = 2 * k + 1;
            if (c + 1 < queued && keys[c + 1] < keys[c]) {
                c++;
            }
            if (keys[c] >= d) {
                break;
            }
            queue[k] = queue[c];
            keys[k] = keys[c];
            k = c;
        }
        queue[k] = x;
        keys[k] = d;
    }

    private void relaxRow(int i) {
        double base = distance[i] + potential[i];
        for (int e = rowStart[i]; e < rowStart[i + 1]; e++) {
            int y = a + arcColumn[e];
            if (!settled[y]) {
                double d = base + arcCost[e] - potential[y];
                if (d < distance[y]) {
                    distance[y] = d;
                    arcIn[y] = e;
                    enqueue(y);
                }
            }
        }
    }

    /** Arcs back from column {@code j} to the rows that ship to it, at cost {@code −C[i, j]}. */
    private void relaxColumn(int j) {
        double base = distance[a + j] + potential[a + j];
        for (int k = columnStart[j]; k < columnStart[j + 1]; k++) {
            int e = columnArcs[k];
            int i = arcRow[e];
            if (flow[e] > 0 && !settled[i]) {
                double d = base - arcCost[e] - potential[i];
                if (d < distance[i]) {
                    distance[i] = d;
                    arcIn[i] = e;
                    enqueue(i);
                }
            }
        }
    }

    /** Sends the path's bottleneck from its source row to {@code sink}; false if the path carries nothing now. */
    private boolean ship(int sink) {
        double amount = demand[sink - a];
        for (int y = sink; ; ) {
            int i = arcRow[arcIn[y]];
            int back = arcIn[i];
            if (back < 0) {
                amount = Math.min(amount, supply[i]);
                break;
            }
            amount = Math.min(amount, flow[back]);
            y = a + arcColumn[back];
        }
        if (amount <= TOLERANCE) {
            return false;
        }

        for (int y = sink; ; ) {
            int forward = arcIn[y];
            flow[forward] += amount;
            int i = arcRow[forward];
            int back = arcIn[i];
            if (back < 0) {
                supply[i] -= amount;
                break;
            }
            flow[back] -= amount;
            if (flow[back] < TOLERANCE) {
                flow[back] = 0;
            }
            y = a + arcColumn[back];
        }
        demand[sink - a] -= amount;
        return true;
    }
}
