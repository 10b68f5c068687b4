/**
 * What merge methods implement and what a merge plans and reports: {@link dev.graft.plan.MergeMethod},
 * its parameters and settings, the tensor inputs handed to it, and the merge report with its diagnostics.
 */
package dev.graft.plan;
