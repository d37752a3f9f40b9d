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

  /// Resolves `o` (already ``WorkloadOptions/validate()``d). Looks at the files only through
  /// `stat`/`open(O_RDONLY)`; nothing is created, grown or written here.
  /// - Returns: the target and the verify state to use (loaded from an earlier run, or new).
  /// - Throws: ``WorkloadError/option(_:)`` for anything the user can fix by changing an
  ///   option; ``WorkloadError/verifyFailed(_:)`` when the target no longer holds what its
  ///   verify state describes.
  public static func resolve(_ o: WorkloadOptions) throws(WorkloadError) -> (WorkloadTarget, VerifyState?) {
    var lbs = o.effectiveLogicalBlockSize
    var size: UInt64
    var existing: UInt64? = nil
    var blockDevice = false
    var creates = false
    var grows = false
    let readOnly = o.readOnly || !o.writes
    // The verify state first: --verify_only takes its geometry from it.
    var state: VerifyState? = nil
    var statePath: String? = nil
    var loaded = false
    if o.verify != .off, let path = o.target.path {
      statePath = try resolveStatePath(o, target: path)
      state = try loadState(o, at: statePath!)
      loaded = state != nil
      if let old = state, o.verifyOnly {
        if let given = o.logicalBlockSize, given != old.logicalBlockSize {
          throw .option(
            OptionError(
              "--logical-block-size", "\(given)",
              "the verify state \(statePath!) was written with \(old.logicalBlockSize)-byte logical blocks"))
        }
        lbs = old.logicalBlockSize
      }
    }
    switch o.target {
    case .ram, .null:
      size = o.sizeBytes ?? WorkloadOptions.defaultSizeBytes
    case .file(let path, _):
      let probe: FileStore.Probe
      do { probe = try FileStore.probe(path: path) } catch {
        throw .option(OptionError("--filename", path, "\(error)"))
      }
      blockDevice = probe.isBlockDevice
      if let old = state, o.verifyOnly {
        // Verification reads what the earlier run covered; a target now smaller lost data.
        let covered = old.unitCount * UInt64(old.unitBytes)
        guard probe.exists, probe.bytes >= covered else {
          throw .verifyFailed(
            "\(path) has \(probe.exists ? "\(probe.bytes) bytes" : "disappeared"), but its verify state \(statePath!) covers \(covered): the target shrank, and the units past its end are lost"
          )
        }
      }
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
        if let problem = SystemIO.unwritableDirectory(of: path) {
          throw .option(OptionError("--filename", path, "cannot be created: \(problem)"))
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
                "--filename", path,
                "holds \(probe.bytes) bytes, less than one \(lbs)-byte logical block; give --size to use it"))
          }
          guard size <= WorkloadOptions.maximumSizeBytes else {
            throw .option(
              OptionError(
                "--filename", path,
                "is larger than \(Format.bytes(WorkloadOptions.maximumSizeBytes)); give a smaller --size"))
          }
        }
      }
    }

    var unitBytes = o.blockSize
    if let old = state {
      if o.verifyOnly {
        unitBytes = old.unitBytes
      } else {
        guard old.logicalBlockSize == lbs else {
          throw .option(
            OptionError(
              "--logical-block-size", "\(lbs)",
              "the verify state \(statePath!) was written with \(old.logicalBlockSize)-byte logical blocks; use that, or remove the state file to start over"
            ))
        }
        guard old.unitBytes == o.blockSize else {
          throw .option(
            OptionError(
              "--bs", "\(o.blockSize)",
              "the verify state \(statePath!) was written with --bs \(old.unitBytes); use that, or remove the state file to start over"
            ))
        }
        let covered = old.unitCount * UInt64(old.unitBytes)
        if covered > size {
          if o.sizeBytes == nil {
            throw .verifyFailed(
              "\(o.target.path!) has \(size) bytes but its verify state \(statePath!) covers \(covered): the target shrank"
            )
          }
          throw .option(
            OptionError(
              "--size", "\(size)",
              "is smaller than the \(covered) bytes the verify state \(statePath!) covers"))
        }
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
        let region =
          "the region (\(Format.bytes(size))\(o.sizeBytes == nil ? ", the default" : "")) has \(units) units of \(unitBytes) bytes"
        if let given = o.sizeBytes {
          throw .option(
            OptionError(
              "--size", "\(given)",
              "too small: \(region), fewer than numjobs \(o.jobs) × iodepth \(o.iodepth)"))
        }
        throw .option(
          OptionError(
            "--iodepth", "\(o.iodepth)",
            "too deep: \(region), fewer than numjobs \(o.jobs) × iodepth \(o.iodepth) (lower --iodepth or --numjobs, or raise --size)"
          ))
      }
    }
    let target = WorkloadTarget(
      target: o.target, sizeBytes: size, logicalBlockSize: lbs, existingBytes: existing,
      isBlockDevice: blockDevice,
      creates: creates, grows: grows, readOnly: readOnly, unitBytes: unitBytes, unitCount: units,
      verifyStatePath: statePath, verifyStateLoaded: loaded,
      verifyStateInterrupted: state?.inProgress == true)
    return (target, state)
  }

  /// Where the verify state of `target` lives, checked: a path (`--verify_state` or the
  /// default beside a regular file) that is neither the target itself nor anything but a
  /// regular file, in a directory a writing run can write.
  static func resolveStatePath(_ o: WorkloadOptions, target path: String) throws(WorkloadError) -> String {
    let isDevice = (try? FileStore.probe(path: path))?.isBlockDevice ?? false
    guard let sp = o.verifyStatePath ?? (isDevice ? nil : VerifyState.defaultPath(for: path)) else {
      throw .option(
        OptionError("--verify_state", nil, "give a path for the verify state of block device \(path)"))
    }
    guard !sp.isEmpty else { throw .option(OptionError("--verify_state", sp, "a file path")) }
    if SystemIO.sameFile(sp, path) {
      throw .option(
        OptionError("--verify_state", sp, "is the target itself; the state needs a file of its own"))
    }
    if let kind = SystemIO.fileKind(sp), kind != .regular {
      throw .option(OptionError("--verify_state", sp, "is not a regular file"))
    }
    if o.writes, let problem = SystemIO.unwritableDirectory(of: sp) {
      throw .option(OptionError("--verify_state", sp, "cannot be written: \(problem)"))
    }
    return sp
  }

  /// The earlier run's state at `path`, or nil when there is none (which a run that only
  /// reads cannot use).
  static func loadState(_ o: WorkloadOptions, at sp: String) throws(WorkloadError) -> VerifyState? {
    guard VerifyState.exists(at: sp) else {
      if o.verifyOnly || !o.writes {
        throw .option(
          OptionError(
            o.verifyOnly ? "--verify_only" : "--verify", o.verifyOnly ? nil : o.verify.rawValue,
            "no verify state at \(sp): write the target with --verify crc32c first (or name the state with --verify_state)"
          ))
      }
      return nil
    }
    do { return try VerifyState.load(from: sp) } catch {
      throw .option(OptionError("--verify_state", sp, "\(error.reason); remove it to start over"))
    }
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
