;; Test core `init-fails`: a hand-written component of world weft:app/core (no WASI imports).
;; `init` returns `err("init refused")`; `handle-event` would return `ok`.
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

  (core module $Main
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 1024))
    (data (i32.const 64) "init refused")
    ;; A bump allocator for the host's copies of the event's strings, reset by every call.
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
      (local.get $ptr))

    ;; Results (result<_, string>) are returned from 32: tag, then string pointer and length.
    (func (export "init") (result i32)
      (i32.store8 (i32.const 32) (i32.const 1))
      (i32.store (i32.const 36) (i32.const 64))
      (i32.store (i32.const 40) (i32.const 12))
      (i32.const 32))

    (func (export "handle-event")
      (param $type i32) (param $type_len i32) (param $payload i32) (param $payload_len i32)
      (result i32)
      (global.set $heap (i32.const 1024))
      (i32.store8 (i32.const 32) (i32.const 0))
      (i32.const 32)))
  (core instance $main (instantiate $Main))

  (func (export "init") (result (result (error string)))
    (canon lift (core func $main "init") (memory (core memory $main "memory")) string-encoding=utf8))
  (func (export "handle-event")
    (param "message-type" string) (param "payload" string)
    (result (result (error string)))
    (canon lift (core func $main "handle-event")
      (memory (core memory $main "memory")) (realloc (core func $main "cabi_realloc")) string-encoding=utf8)))
