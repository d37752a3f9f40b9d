import StorportDevices

/// The target of a workload, resolved from ``WorkloadOptions`` before anything is opened for
/// writing: which file or memory, how big, whether it will be created or grown (only when
/// `--size` asks for more than the file has), whether it is opened read-only (`--readonly`,
/// or a workload that issues no write), the unit geometry, and where the verify state lives.
public struct WorkloadTarget: Sendable {
  public let target: WorkloadOptions.Target
  /// Capacity presented to the miniport, a multiple of the logical block size.
  public let sizeBytes: UInt64
  public let logicalBlockSize: Int
  /// The file's size before the run (nil for RAM and null, or a file that will be created).
  public let existingBytes: UInt64?
  public let isBlockDevice: Bool
  public let creates: Bool
  public let grows: Bool
  public let readOnly: Bool
  /// Bytes per I/O (`--bs`, or the verify state's unit for `--verify_only`).
  public let unitBytes: Int
  /// Units in the region the jobs share.
  public let unitCount: UInt64
  /// Where the verify state is saved (file targets with `--verify`).
  public let verifyStatePath: String?
  /// Whether the verify state came from an earlier run.
  public let verifyStateLoaded: Bool
  /// The earlier run that wrote the state was killed before it ended: units it wrote may hold
  /// newer generations than recorded (they are then accepted, and counted).
  public let verifyStateInterrupted: Bool

  public var path: String? { target.path }

  /// Resolves `o` (already ``WorkloadOptions/validate()``d). Looks at the file only through
  /// `stat`/`open(O_RDONLY)`; nothing is created, grown or written here.
  /// - Throws: ``OptionError`` for anything the user can fix by changing an option;
  ///   ``WorkloadError/verifyFailed(_:)`` when the target no longer holds what its verify
  ///   state describes.
  public static func resolve(_ o: WorkloadOptions) throws(WorkloadError) -> (WorkloadTarget, VerifyState?) {
    let lbs = o.logicalBlockSize
    var size: UInt64
    var existing: UInt64? = nil
    var blockDevice = false
    var creates = false
    var grows = false
    let readOnly = o.readOnly || !o.writes
    switch o.target {
    case .ram, .null:
      size = o.sizeBytes ?? WorkloadOptions.defaultSizeBytes
    case .file(let path, _):
      let probe: FileStore.Probe
      do { probe = try FileStore.probe(path: path) } catch {
        throw .option(OptionError("--filename", path, "\(error)"))
      }
      blockDevice = probe.isBlockDevice
      if !probe.exists {
        guard !readOnly else {
          throw .option(
            OptionError(
              "--filename", path,
              "does not exist (a workload that only reads\(o.readOnly ? ", or --readonly," : "") never creates files)"
            ))
        }
        guard let s = o.sizeBytes else {
          throw .option(OptionError("--filename", path, "does not exist; give --size to create it"))
        }
        creates = true
        size = s
      } else {
        existing = probe.bytes
        if let s = o.sizeBytes {
          if s > probe.bytes {
            guard !readOnly else {
              throw .option(
                OptionError(
                  "--size", "\(s)",
                  "is larger than \(path) (\(Format.bytes(probe.bytes))), and a workload that only reads never grows files"
                ))
            }
            guard !probe.isBlockDevice else {
              throw .option(
                OptionError(
                  "--size", "\(s)", "is larger than the device \(path) (\(Format.bytes(probe.bytes)))"))
            }
            grows = true
          }
          size = s
        } else {
          size = probe.bytes - probe.bytes % UInt64(lbs)
          guard size > 0 else {
            throw .option(
              OptionError(
                "--filename", path, "holds less than one \(lbs)-byte logical block; give --size to use it"))
          }
          guard size <= WorkloadOptions.maximumSizeBytes else {
            throw .option(
              OptionError(
                "--filename", path,
                "is larger than \(Format.bytes(WorkloadOptions.maximumSizeBytes)); give a smaller --size"
              ))
          }
        }
      }
    }

    // Verify state: load the earlier run's, or start one.
    var unitBytes = o.blockSize
    var state: VerifyState? = nil
    var loaded = false
    var statePath: String? = nil
    if o.verify != .off, let path = o.target.path {
      statePath = o.verifyStatePath ?? (blockDevice ? nil : VerifyState.defaultPath(for: path))
      guard let sp = statePath else {
        throw .option(
          OptionError("--verify_state", nil, "give a path for the verify state of block device \(path)"))
      }
      if VerifyState.exists(at: sp) {
        let old: VerifyState
        do { old = try VerifyState.load(from: sp) } catch {
          throw .option(OptionError("--verify_state", sp, "\(error.reason); remove it to start over"))
        }
        guard old.logicalBlockSize == lbs else {
          throw .option(
            OptionError(
              "--logical-block-size", "\(lbs)",
              "the verify state \(sp) was written with \(old.logicalBlockSize)-byte logical blocks"))
        }
        if o.verifyOnly {
          unitBytes = old.unitBytes
        } else if old.unitBytes != o.blockSize {
          throw .option(
            OptionError(
              "--bs", "\(o.blockSize)",
              "the verify state \(sp) was written with --bs \(old.unitBytes); use that, or remove the state file to start over"
            ))
        }
        let covered = old.unitCount * UInt64(old.unitBytes)
        if covered > size {
          if o.verifyOnly || o.sizeBytes == nil {
            throw .verifyFailed(
              "\(path) has \(size) bytes but its verify state \(sp) covers \(covered): the target shrank, and the units past its end are lost"
            )
          }
          throw .option(
            OptionError(
              "--size", "\(size)", "is smaller than the \(covered) bytes the verify state \(sp) covers"))
        }
        state = old
        loaded = true
      } else if o.verifyOnly || !o.writes {
        throw .option(
          OptionError(
            o.verifyOnly ? "--verify_only" : "--verify", o.verifyOnly ? nil : o.verify.rawValue,
            "no verify state at \(sp): write the target with --verify crc32c first (or name the state with --verify_state)"
          ))
      }
    }
    let units = o.verifyOnly ? (state?.unitCount ?? 0) : size / UInt64(unitBytes)
    if o.verify != .off {
      guard units <= VerifyState.maximumUnits else {
        throw .option(
          OptionError(
            "--bs", "\(unitBytes)",
            "--verify tracks at most \(VerifyState.maximumUnits) units; \(Format.bytes(size)) / \(unitBytes) is \(units): use a larger --bs or a smaller --size"
          ))
      }
      if let old = state, old.unitCount < units {
        // The region grew: keep the old generations, the new units start unwritten.
        state = old.resized(to: units, targetBytes: size, seed: o.seed)
      } else if state == nil {
        state = VerifyState(
          logicalBlockSize: lbs, unitBytes: unitBytes, unitCount: units, targetBytes: size, seed: o.seed)
      }
    }
    if !o.verifyOnly {
      let perJob = units / UInt64(o.jobs)
      guard perJob >= UInt64(o.iodepth) else {
        throw .option(
          OptionError(
            "--size", Format.bytes(size),
            "too small: \(units) units of \(unitBytes) bytes cannot keep \(o.jobs) job(s) × iodepth \(o.iodepth) busy on distinct units"
          ))
      }
    }
    let target = WorkloadTarget(
      target: o.target, sizeBytes: size, logicalBlockSize: lbs, existingBytes: existing,
      isBlockDevice: blockDevice,
      creates: creates, grows: grows, readOnly: readOnly, unitBytes: unitBytes, unitCount: units,
      verifyStatePath: statePath, verifyStateLoaded: loaded,
      verifyStateInterrupted: loaded && state?.inProgress == true)
    return (target, state)
  }

  /// One line for the report: what, where, how big, in which block size, how opened.
  public var description: String {
    let geometry =
      "\(Format.bytes(sizeBytes)) = \(sizeBytes / UInt64(logicalBlockSize)) logical blocks of \(logicalBlockSize) bytes"
    switch target {
    case .ram: return "RAM, \(geometry)"
    case .null: return "null (no data kept), \(geometry)"
    case .file(let path, let direct):
      var s = "\(isBlockDevice ? "block device" : "file") \(path), \(geometry)"
      if creates {
        s += ", created"
      } else if grows, let e = existingBytes {
        s += ", grown from \(Format.bytes(e))"
      } else if let e = existingBytes, e > sizeBytes {
        s += " (the first \(Format.bytes(sizeBytes)) of \(Format.bytes(e)))"
      }
      s += readOnly ? ", read-only" : ", read-write"
      if direct { s += ", O_DIRECT" }
      return s
    }
  }
}
