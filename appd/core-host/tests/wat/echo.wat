;; Test core `echo`: a hand-written component of world weft:app/core (no WASI imports).
;; `init` succeeds; `handle-event(t, p)` calls `emit-state(t, p, none)` and returns `ok`, or
;; `err("emit-state: <case>")` when the host refuses the update.
(component
  (import "weft:app/host@0.1.0" (instance $host
    (type $emit-error' (variant
      (case "invalid-json" string)
      (case "backpressure")
      (case "session-closed")))
    (export "emit-error" (type $emit-error (eq $emit-error')))
    (export "emit-state" (func
      (param "message-type" string)
      (param "payload" string)
      (param "coalesce-key" (option string))
      (result (result (error $emit-error)))))
    (export "log" (func (param "message" string)))))

  ;; Memory and a bump allocator, instantiated first so that the host functions can be lowered
  ;; against this memory before the main module (which imports them) is instantiated.
  (core module $Libc
    (memory (export "memory") 1)
    ;; Everything below 1024 is static data and return areas; the heap starts at 1024 and is
    ;; reset after every call.
    (global $heap (export "heap") (mut i32) (i32.const 1024))
    (func (export "cabi_realloc")
      (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
      (result i32)
      (local $ptr i32) (local $end i32)
      (local.set $ptr
        (i32.and
          (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
      (if (i32.lt_u (local.get $end) (local.get $ptr)) (then unreachable))
      (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.sub
                    (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                    (memory.size)))
                (i32.const -1))
            (then unreachable))))
      (if (local.get $old)
        (then
          (memory.copy (local.get $ptr) (local.get $old)
            (select (local.get $old_size) (local.get $new_size)
              (i32.lt_u (local.get $old_size) (local.get $new_size))))))
      (global.set $heap (local.get $end))
      (local.get $ptr)))
  (core instance $libc (instantiate $Libc))

  (core func $emit-state (canon lower (func $host "emit-state")
    (memory (core memory $libc "memory")) (realloc (core func $libc "cabi_realloc")) string-encoding=utf8))

  (core module $Main
    (import "libc" "memory" (memory 1))
    (import "libc" "heap" (global $heap (mut i32)))
    ;; (type ptr, type len, payload ptr, payload len, key is-some, key ptr, key len, ret area)
    (import "host" "emit-state"
      (func $emit-state (param i32 i32 i32 i32 i32 i32 i32 i32)))

    ;; emit-state's result<_, emit-error> is written at 16 (16 bytes); our result<_, string>
    ;; is returned from 32 (12 bytes).
    (data (i32.const 64) "emit-state: invalid-json")    ;; 24 bytes
    (data (i32.const 96) "emit-state: backpressure")    ;; 24 bytes
    (data (i32.const 128) "emit-state: session-closed") ;; 26 bytes

    (func $ok (result i32)
      (i32.store8 (i32.const 32) (i32.const 0))
      (i32.const 32))

    (func $err (param $ptr i32) (param $len i32) (result i32)
      (i32.store8 (i32.const 32) (i32.const 1))
      (i32.store (i32.const 36) (local.get $ptr))
      (i32.store (i32.const 40) (local.get $len))
      (i32.const 32))

    (func (export "init") (result i32)
      (call $ok))

    (func (export "handle-event")
      (param $type i32) (param $type_len i32) (param $payload i32) (param $payload_len i32)
      (result i32)
      (call $emit-state
        (local.get $type) (local.get $type_len)
        (local.get $payload) (local.get $payload_len)
        (i32.const 0) (i32.const 0) (i32.const 0)
        (i32.const 16))
      ;; The arguments (and any error string the host wrote) are no longer needed.
      (global.set $heap (i32.const 1024))
      (if (i32.eqz (i32.load8_u (i32.const 16)))
        (then (return (call $ok))))
      (block $session-closed
        (block $backpressure
          (block $invalid-json
            (br_table $invalid-json $backpressure $session-closed
              (i32.load8_u (i32.const 20))))
          (return (call $err (i32.const 64) (i32.const 24))))
        (return (call $err (i32.const 96) (i32.const 24))))
      (call $err (i32.const 128) (i32.const 26))))

  (core instance $main (instantiate $Main
    (with "libc" (instance $libc))
    (with "host" (instance (export "emit-state" (func $emit-state))))))

  (func (export "init") (result (result (error string)))
    (canon lift (core func $main "init") (memory (core memory $libc "memory")) string-encoding=utf8))
  (func (export "handle-event")
    (param "message-type" string) (param "payload" string)
    (result (result (error string)))
    (canon lift (core func $main "handle-event")
      (memory (core memory $libc "memory")) (realloc (core func $libc "cabi_realloc")) string-encoding=utf8)))
