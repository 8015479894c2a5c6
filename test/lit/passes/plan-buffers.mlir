// RUN: loom-opt %s --split-input-file --loom-outline-kernels --loom-plan-buffers | FileCheck %s

// Tests that values whose lifetimes do not overlap share arena space, that the returned value
// goes to the output (no arena offset), and that a reshape is a view of its input.

// CHECK-LABEL: func.func @chain
// CHECK-SAME: loom.arena_bytes_per_token = 512 : i64
func.func @chain(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  // CHECK: %[[A:.*]] = loom.dispatch @softcap_0(%{{.*}}) {arena_offset = 0 : i64}
  // CHECK: %[[B:.*]] = loom.dispatch @softcap_0(%[[A]]) {arena_offset = 256 : i64}
  // CHECK: %[[R:.*]] = loom.reshape %[[B]]
  // CHECK: %[[C:.*]] = loom.dispatch @softcap_1(%[[R]]) {arena_offset = 0 : i64}
  // CHECK: %[[R2:.*]] = loom.reshape %[[C]]
  // CHECK: loom.dispatch @softcap_0(%[[R2]]) :
  // CHECK-NOT: arena_offset
  // CHECK: return
  %a = loom.softcap %x {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %b = loom.softcap %a {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %r = loom.reshape %b : (tensor<?x64xf32>) -> tensor<?x4x16xf32>
  %c = loom.softcap %r {cap = 30.0 : f64} : (tensor<?x4x16xf32>) -> tensor<?x4x16xf32>
  %r2 = loom.reshape %c : (tensor<?x4x16xf32>) -> tensor<?x64xf32>
  %d = loom.softcap %r2 {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  return %d : tensor<?x64xf32>
}

// -----

// Tests that a value read later (a residual) keeps its space while others come and go.

// CHECK-LABEL: func.func @residual
// CHECK-SAME: loom.arena_bytes_per_token = 768 : i64
func.func @residual(%x: tensor<?x64xf32>) -> tensor<?x64xf32> attributes {loom.entry} {
  // CHECK: %[[R:.*]] = loom.dispatch @softcap_0(%{{.*}}) {arena_offset = 0 : i64}
  // CHECK: %[[A:.*]] = loom.dispatch @softcap_0(%[[R]]) {arena_offset = 256 : i64}
  // CHECK: %[[B:.*]] = loom.dispatch @softcap_0(%[[A]]) {arena_offset = 512 : i64}
  // CHECK: loom.dispatch @add_0(%[[R]], %[[B]]) :
  %r = loom.softcap %x {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %a = loom.softcap %r {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %b = loom.softcap %a {cap = 30.0 : f64} : (tensor<?x64xf32>) -> tensor<?x64xf32>
  %s = loom.add %r, %b : (tensor<?x64xf32>, tensor<?x64xf32>) -> tensor<?x64xf32>
  return %s : tensor<?x64xf32>
}
