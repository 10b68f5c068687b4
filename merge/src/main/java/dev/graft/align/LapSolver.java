package dev.graft.align;

import java.util.Arrays;

/**
 * Dense linear assignment: the one-to-one assignment of rows to columns of a cost matrix that minimizes (or
 * maximizes) the total cost, by shortest augmenting paths with dual variables (Jonker and Volgenant, <i>A
 * shortest augmenting path algorithm for dense and sparse linear assignment problems</i>, Computing 1987, in
 * the form of Crouse, <i>On implementing 2D rectangular assignment algorithms</i>, IEEE TAES 2016, which
 * scipy's {@code linear_sum_assignment} also uses). Rectangular matrices are allowed: every row is assigned
 * when there are no more rows than columns, every column otherwise. Costs are row-major {@code float} or
 * {@code double} (held as one {@code double} matrix while solving: 8 bytes per entry); an infinite cost on the
 * wrong side (positive when minimizing, negative when maximizing)
 * forbids a pair.
 */
public final class LapSolver {
    private LapSolver() {
    }

    /** The assignment of least total cost; see {@link #solve(Costs, int, int, boolean)}. */
    public static int[] minimize(double[] cost, int rows, int cols) {
        return solve(Costs.of(cost, rows, cols), rows, cols, false);
    }

    /** The assignment of greatest total cost; see {@link #solve(Costs, int, int, boolean)}. */
    public static int[] maximize(double[] cost, int rows, int cols) {
        return solve(Costs.of(cost, rows, cols), rows, cols, true);
    }

    /** The assignment of least total cost; see {@link #solve(Costs, int, int, boolean)}. */
    public static int[] minimize(float[] cost, int rows, int cols) {
        return solve(Costs.of(cost, rows, cols), rows, cols, false);
    }

    /** The assignment of greatest total cost; see {@link #solve(Costs, int, int, boolean)}. */
    public static int[] maximize(float[] cost, int rows, int cols) {
        return solve(Costs.of(cost, rows, cols), rows, cols, true);
    }

    /** Row-major costs, read a row at a time. */
    public interface Costs {
        /** Writes row {@code i}'s costs into {@code dst[0, cols)}. */
        void row(int i, double[] dst);

        static Costs of(double[] c, int rows, int cols) {
            check(c.length, rows, cols);
            return (i, dst) -> System.arraycopy(c, i * cols, dst, 0, cols);
        }

        static Costs of(float[] c, int rows, int cols) {
            check(c.length, rows, cols);
            return (i, dst) -> {
                int at = i * cols;
                for (int j = 0; j < cols; j++) {
                    dst[j] = c[at + j];
                }
            };
        }

        private static void check(int length, int rows, int cols) {
            if (rows < 0 || cols < 0 || (long) rows * cols != length) {
                throw new IllegalArgumentException("a " + rows + "×" + cols + " cost matrix needs " + (long) rows * cols
                        + " entries, got " + length);
            }
        }
    }

    /**
     * Solves the assignment problem.
     *
     * @return for each row, its column, or -1 for rows left unassigned (only when {@code rows > cols})
     * @throws IllegalArgumentException for NaN costs, or when no assignment avoids forbidden pairs
     */
    public static int[] solve(Costs costs, int rows, int cols, boolean maximize) {
        if (rows <= cols) {
            return new Solver(costs, rows, cols, maximize).run();
        }
        // more rows than columns: assign each column a row on the transposed problem
        double[] column = new double[rows];
        double[][] transposed = new double[cols][rows];
        for (int i = 0; i < rows; i++) {
            costs.row(i, column);
            for (int j = 0; j < cols; j++) {
                transposed[j][i] = column[j];
            }
        }
        int[] rowOfCol = new Solver((j, dst) -> System.arraycopy(transposed[j], 0, dst, 0, rows), cols, rows,
                maximize).run();
        int[] colOfRow = new int[rows];
        Arrays.fill(colOfRow, -1);
        for (int j = 0; j < cols; j++) {
            colOfRow[rowOfCol[j]] = j;
        }
        return colOfRow;
    }

    /** The total cost of an assignment. */
    public static double total(Costs costs, int rows, int cols, int[] colOfRow) {
        double[] row = new double[cols];
        double total = 0;
        for (int i = 0; i < rows; i++) {
            if (colOfRow[i] >= 0) {
                costs.row(i, row);
                total += row[colOfRow[i]];
            }
        }
        return total;
    }

    /** One run of the algorithm on a problem with no more rows than columns. */
    private static final class Solver {
        private final double[] c;
        private final int rows;
        private final int cols;
        private final double[] u;
        private final double[] v;
        private final double[] shortest;
        private final int[] path;
        private final int[] col4row;
        private final int[] row4col;
        private final boolean[] scannedRow;
        private final boolean[] scannedCol;
        private final int[] slotCol;
        private final double[] slotV;
        private final double[] slotShortest;
        private final int[] slotPath;
        private final boolean[] slotFree;

        Solver(Costs costs, int rows, int cols, boolean maximize) {
            this.rows = rows;
            this.cols = cols;
            this.c = minimizedCosts(costs, rows, cols, maximize);
            this.u = new double[rows];
            this.v = new double[cols];
            this.shortest = new double[cols];
            this.path = new int[cols];
            this.col4row = new int[rows];
            this.row4col = new int[cols];
            this.scannedRow = new boolean[rows];
            this.scannedCol = new boolean[cols];
            this.slotCol = new int[cols];
            this.slotV = new double[cols];
            this.slotShortest = new double[cols];
            this.slotPath = new int[cols];
            this.slotFree = new boolean[cols];
        }

        /** The costs in one row-major array, negated when maximizing, checked. */
        private static double[] minimizedCosts(Costs costs, int rows, int cols, boolean maximize) {
            double[] all = new double[Math.multiplyExact(rows, cols)];
            double[] row = new double[cols];
            for (int i = 0; i < rows; i++) {
                costs.row(i, row);
                for (int j = 0; j < cols; j++) {
                    double x = row[j];
                    double minimized = maximize ? -x : x;
                    if (Double.isNaN(x) || minimized == Double.NEGATIVE_INFINITY) {
                        throw new IllegalArgumentException("cost [" + i + ", " + j + "] is " + x + " (costs must be "
                                + "numbers; " + (maximize ? "negative" : "positive") + " infinity forbids a pair)");
                    }
                    all[i * cols + j] = minimized;
                }
            }
            return all;
        }

        int[] run() {
            Arrays.fill(col4row, -1);
            Arrays.fill(row4col, -1);
            if (rows == cols && rows > 1) {
                reduce();
            }
            for (int row = 0; row < rows; row++) {
                if (col4row[row] == -1) {
                    augment(row);
                }
            }
            return col4row;
        }

        /**
         * Jonker and Volgenant's initialisation for square matrices, which assigns most rows cheaply: column
         * reduction (each column's dual is its least cost, taken by that row if free), reduction transfer, and
         * two rounds of augmenting row reduction. Afterwards every assigned row sits on a column of least
         * reduced cost {@code c − v}, so with {@code u} set to that cost all reduced costs are non-negative, as
         * the shortest-path phase needs.
         */
        private void reduce() {
            int n = rows;
            int[] matches = new int[n];
            for (int j = n - 1; j >= 0; j--) {
                int best = 0;
                for (int i = 1; i < n; i++) {
                    if (c[i * n + j] < c[best * n + j]) {
                        best = i;
                    }
                }
                v[j] = c[best * n + j];
                if (++matches[best] == 1) {
                    col4row[best] = j;
                    row4col[j] = best;
                } else if (v[j] < v[col4row[best]]) {
                    row4col[col4row[best]] = -1;
                    col4row[best] = j;
                    row4col[j] = best;
                }
            }
            int[] free = new int[n];
            int numFree = 0;
            for (int i = 0; i < n; i++) {
                if (matches[i] == 0) {
                    free[numFree++] = i;
                } else if (matches[i] == 1) {
                    int j1 = col4row[i];
                    double min = Double.POSITIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        if (j != j1) {
                            min = Math.min(min, c[i * n + j] - v[j]);
                        }
                    }
                    if (min != Double.POSITIVE_INFINITY) {
                        v[j1] -= min;
                    }
                }
            }
            for (int round = 0; round < 2; round++) {
                int k = 0;
                int previous = numFree;
                numFree = 0;
                while (k < previous) {
                    int i = free[k++];
                    int off = i * n;
                    double umin = c[off] - v[0];
                    double usubmin = Double.POSITIVE_INFINITY;
                    int j1 = 0;
                    int j2 = -1;
                    for (int j = 1; j < n; j++) {
                        double h = c[off + j] - v[j];
                        if (h < usubmin) {
                            if (h >= umin) {
                                usubmin = h;
                                j2 = j;
                            } else {
                                usubmin = umin;
                                umin = h;
                                j2 = j1;
                                j1 = j;
                            }
                        }
                    }
                    if (umin == Double.POSITIVE_INFINITY) {
                        continue; // only forbidden pairs: the shortest-path phase reports it
                    }
                    int i0 = row4col[j1];
                    if (umin < usubmin) {
                        v[j1] -= usubmin - umin;
                    } else if (i0 > -1 && j2 >= 0) {
                        j1 = j2;
                        i0 = row4col[j2];
                    }
                    if (i0 > -1) {
                        col4row[i0] = -1;
                    }
                    col4row[i] = j1;
                    row4col[j1] = i;
                    if (i0 > -1) {
                        free[numFree++] = i0; // the displaced row waits for the next round
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                int j = col4row[i];
                if (j >= 0) {
                    u[i] = c[i * n + j] - v[j];
                }
            }
        }

        /**
         * Finds a shortest augmenting path from {@code start}, updates the duals and augments along it. The
         * columns not yet reached sit in slots {@code [0, left)} with their data beside them (column, dual,
         * path length, predecessor row, whether free), so the inner loop reads consecutive entries; a reached
         * column's slot is filled by the last one.
         */
        private void augment(int start) {
            int left = cols;
            for (int k = 0; k < cols; k++) {
                int j = cols - k - 1; // scipy's order, so that ties resolve alike
                slotCol[k] = j;
                slotV[k] = v[j];
                slotShortest[k] = Double.POSITIVE_INFINITY;
                slotFree[k] = row4col[j] == -1;
            }
            Arrays.fill(scannedRow, false);
            Arrays.fill(scannedCol, false);
            double minVal = 0;
            int i = start;
            int sink = -1;
            while (sink == -1) {
                scannedRow[i] = true;
                double lowest = Double.POSITIVE_INFINITY;
                int index = -1;
                double base = minVal - u[i];
                int off = i * cols;
                int[] col = slotCol;
                double[] sv = slotV;
                double[] ss = slotShortest;
                int[] sp = slotPath;
                boolean[] free = slotFree;
                double[] cost = c;
                for (int k = 0; k < left; k++) {
                    double r = base + cost[off + col[k]] - sv[k];
                    boolean shorter = r < ss[k];
                    ss[k] = shorter ? r : ss[k];
                    sp[k] = shorter ? i : sp[k];
                }
                for (int k = 0; k < left; k++) {
                    double sk = ss[k];
                    if (sk <= lowest && (sk < lowest || free[k])) {
                        lowest = sk;
                        index = k;
                    }
                }
                if (index < 0 || lowest == Double.POSITIVE_INFINITY) {
                    throw new IllegalArgumentException("the cost matrix is infeasible: row " + start
                            + " cannot be assigned without a forbidden pair");
                }
                minVal = lowest;
                int j = slotCol[index];
                shortest[j] = slotShortest[index];
                path[j] = slotPath[index];
                if (row4col[j] == -1) {
                    sink = j;
                } else {
                    i = row4col[j];
                }
                scannedCol[j] = true;
                left--;
                slotCol[index] = slotCol[left];
                slotV[index] = slotV[left];
                slotShortest[index] = slotShortest[left];
                slotPath[index] = slotPath[left];
                slotFree[index] = slotFree[left];
            }
            u[start] += minVal;
            for (int r = 0; r < rows; r++) {
                if (scannedRow[r] && r != start) {
                    u[r] += minVal - shortest[col4row[r]];
                }
            }
            for (int col = 0; col < cols; col++) {
                if (scannedCol[col]) {
                    v[col] -= minVal - shortest[col];
                }
            }
            int j = sink;
            while (true) {
                int r = path[j];
                row4col[j] = r;
                int previous = col4row[r];
                col4row[r] = j;
                j = previous;
                if (r == start) {
                    break;
                }
            }
        }
    }
}
