/**
 * Reports as pages: {@link dev.graft.report.ReportPage} writes a merge's report (by method, with its evaluation; or
 * of a PLeaS, routed, upcycled or RegMean merge) or an evaluation as one self-contained HTML page with the charts of
 * {@link dev.graft.eval}. Above the packages whose reports it shows, so none of them depends on it.
 */
package dev.graft.report;
