// The emulated Pico: rp2040js + synthetic boot ROM + flash file + the peripherals it lacks + a USB
// host with a CCID driver on top. `Board.run()` executes the firmware; host operations
// (enumerate, CCID commands) are promises that the emulation resolves.
//
// Run loop: instructions execute in chunks of up to CHUNK; after every instruction the clock
// advances by its cycles at clk_sys (125 MHz once the firmware set up the PLL), which fires the
// TIMER's and the USB controller's alarms. Between chunks the loop yields to node's event loop
// (vpcd socket, timers). When the core sleeps (WFI/WFE) the clock jumps to the next alarm, as
// rp2040js's own Simulator does; with no host request outstanding those jumps are paced at wall
// clock speed (sleeping in between), so an idle board costs nearly no CPU, and a host request
// wakes the loop at once.
//
// Core 1 (multicore.js): until firmware launches it, and whenever it sleeps (WFI/WFE), the loop
// above steps core 0 alone, as fast as without it. While core 1 runs, `runBoth` interleaves the two
// cores instruction by instruction: each has a local time (ns on the clk_sys scale), the core that
// is behind steps (core 0 on a tie), and the clock follows the earliest local time of the cores
// that run, so the TIMER and the USB see one time line and core 1's work happens in parallel in
// virtual time. A core whose local time is behind the clock (it slept, or the clock was moved by
// flash busy time or a sleep jump: it was stalled) continues from the clock. `mcu.core` points at
// core 1 while it executes (alarm callbacks excepted), so the PPB (NVIC, VTOR), the SIO (CPUID,
// FIFOs) and the ROM's BKPT services see the executing core. Deterministic: the interleaving
// depends on cycle counts only.

import { RP2040 } from 'rp2040js';
import { buildBootrom, RomServices, BootromError } from './bootrom.js';
import { FlashFile, FLASH_SIZE } from './flash.js';
import { RoscPeripheral, XipCtrlPeripheral, extendSsi } from './peripherals.js';
import { Multicore } from './multicore.js';
import { parseUf2, applyUf2 } from './uf2.js';
import { UsbHost, getDescriptor, setupPacket } from './usbhost.js';
import { parseDeviceDescriptor, parseConfiguration, parseString, checkDevice } from './usbdesc.js';
import { CcidHost, InAssembler, MSG } from './ccid.js';
import { Symbols } from './elf.js';

const CHUNK = 200_000;
const PROFILE_EVERY = 1024;

/** The byte the stack region is painted with (see Board.paintStack). */
const STACK_PAINT = 0xa5;

export class BoardError extends Error {}

/** rp2040js's logger interface, routed to ours; repeated messages are counted, not repeated. */
class EmuLogger {
  constructor(log) {
    this.log = log;
    this.seen = new Map();
    this.onSev = null; // SEV hook (multicore.js)
  }
  note(level, component, message) {
    const key = `${component}: ${message}`;
    const n = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, n);
    if (n <= 3) this.log[level](`rp2040js ${key}${n === 3 ? ' (further repeats not shown)' : ''}`);
  }
  debug(c, m) {
    if (this.log.level >= 3) this.note('trace', c, m);
  }
  info(c, m) {
    if (m === 'SEV') {
      // rp2040js logs every SEV instruction and does nothing else: the event is ours to send
      if (this.onSev) this.onSev();
      return;
    }
    this.note('trace', c, m);
  }
  warn(c, m) {
    this.note('trace', c, m);
  }
  error(c, m) {
    throw new BoardError(`rp2040js [${c}] ${m}`);
  }
}

export class Board {
  /**
   * @param {object} o
   * @param {Uint8Array} o.uf2            the UF2 file's bytes
   * @param {string|null} o.statePath     the flash state file (null: in memory)
   * @param {boolean} [o.rosc=true]       false: leave ROSC unimplemented (RANDOMBIT reads 0xFFFFFFFF)
   * @param {boolean} [o.flashTiming=true]
   * @param {Symbols} [o.symbols]
   * @param {object} o.log                { level, info, debug, trace, warn, error }
   */
  constructor({ uf2, statePath = null, rosc = true, flashTiming = true, profile = false, symbols = Symbols.empty(), log }) {
    this.samples = profile ? [] : null;
    this.samples1 = profile ? [] : null; // core 1's, apart
    this.sampleCountdown = 0;
    this.sampleCountdown1 = 0;
    this.log = log;
    this.symbols = symbols;
    const mcu = new RP2040();
    this.mcu = mcu;
    mcu.logger = new EmuLogger(log);
    this.rom = buildBootrom();
    mcu.loadBootrom(this.rom.words); // also resets the core (SP/PC from the ROM) and blanks the flash
    this.core0 = mcu.core;
    // Core 1 waits in the ROM for a launch. Whenever it becomes runnable from outside (launched,
    // woken by SEV or an interrupt) the chunk stepping core 0 alone ends.
    this.steppingBoth = false;
    this.multicore = new Multicore(mcu, {
      log,
      onCore1Runnable: () => {
        if (!this.steppingBoth) this.yieldNow = true;
      },
    });
    mcu.logger.onSev = () => this.multicore.sev();
    this.t0 = 0; // local times (ns) of the cores while both run
    this.t1 = 0;
    this.core1Instructions = 0;
    this.faultCore = 0;

    this.flash = new FlashFile(statePath, mcu.flash);
    const existed = this.flash.load();
    const blocks = parseUf2(uf2, { flashSize: FLASH_SIZE });
    const span = applyUf2(mcu.flash, blocks);
    if (span.end > 1024 * 1024) log.warn(`the UF2 reaches 0x${span.end.toString(16)}, into the store region [1 MiB, 2 MiB)`);
    this.flash.saveAll();
    this.uniqueId = this.flash.uniqueId();
    log.debug(
      `flash: ${statePath ? `${statePath} (${existed ? 'existing' : 'new'})` : 'in memory'}, UF2 ${blocks.length} blocks ` +
        `over ${span.sectors} sectors [0, 0x${span.end.toString(16)}), unique id ${Buffer.from(this.uniqueId).toString('hex').toUpperCase()}`,
    );

    this.stackRegion = this.paintStack();

    this.rosc = null;
    if (rosc) {
      this.rosc = new RoscPeripheral(mcu);
      mcu.peripherals[0x40060] = this.rosc;
    }
    mcu.peripherals[0x14000] = new XipCtrlPeripheral(mcu);
    this.ssi = extendSsi(mcu.peripherals[0x18000], this.uniqueId);

    this.romServices = new RomServices(mcu, { flash: this.flash, rom: this.rom, log, flashTiming, multicore: this.multicore });
    mcu.onBreak = (imm) => {
      const addr = (mcu.core.PC - 2) >>> 0;
      if (this.romServices.handleBreak(addr, imm)) return;
      const on = this.multicore.current === 1 ? ' on core 1' : '';
      throw new BoardError(`the firmware hit BKPT/UDF #${imm} at ${symbols.describe(addr)}${on}`);
    };
    // Panics end in the panic handler's LED loop (interrupts off): catch the call to report it.
    const panicRanges = symbols.ranges(/panicking::panic(_nounwind)?_fmt$|rust_begin_unwind/);
    this.panic = null;
    if (panicRanges.length) {
      const hook = (core) => {
        const pc = core.PC;
        for (const [a, b] of panicRanges) {
          if (pc >= a && pc < b && !this.panic) {
            this.panic = { from: (core.LR - 1) >>> 0, cycles: core.cycles, core: core === this.core0 ? 0 : 1 };
          }
        }
      };
      this.core0.blTaken = hook;
      this.multicore.core1.blTaken = hook; // kept across core-1 resets
    }

    // A packet for the host ends the current chunk, so the host sees it at once (and the cycle
    // counts of a command end at its answer, not up to a chunk later).
    this.host = new UsbHost(mcu.usbCtrl, { log, onActivity: () => this.kick(), onDeviceData: () => (this.yieldNow = true) });
    this.yieldNow = false;
    this.yielded = false;
    this.pending = 0; // host operations in flight
    this.stopped = false;
    this.failure = null;
    this.wakeup = null;
    this.instructions = 0;
    this.startWall = 0;
    this.device = null;
    this.ccid = null;
  }

  /** Core 0's cycles (every figure of the harness is core 0's, as before core 1 existed). */
  get cycles() {
    return this.core0.cycles;
  }

  /** Core 1's cycles since power-on (0 until firmware launches it). */
  get core1Cycles() {
    return this.multicore.core1.cycles;
  }

  get nanos() {
    return this.mcu.clock.nanos;
  }

  kick() {
    const w = this.wakeup;
    this.wakeup = null;
    if (w) w();
  }

  /** Runs `promise`-returning `fn` as a host operation: the emulation does not idle meanwhile. */
  async hostOp(fn) {
    this.pending++;
    this.kick();
    try {
      return await fn();
    } finally {
      this.pending--;
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeup = null;
        resolve();
      }, ms);
      this.wakeup = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  describeState() {
    const mc = this.multicore;
    const parts = this.describeCore(this.core0);
    if (mc.running) parts.push(`core 1: ${this.describeCore(mc.core1).join(', ')}`);
    else if (mc.launches || mc.resets) parts.push(`core 1 in the boot ROM (wait_for_vector: ${mc.rom})`);
    if (this.faultCore === 1) parts.push('the failure came while core 1 executed');
    if (this.panic) parts.push(`PANIC called from ${this.symbols.describe(this.panic.from)}${this.panic.core ? ' on core 1' : ''}`);
    return parts.join(', ');
  }

  describeCore(c) {
    const parts = [`PC ${this.symbols.describe(c.PC)}`, `LR ${this.symbols.describe(c.LR)}`];
    if (c.IPSR) {
      parts.push(`in exception ${c.IPSR}`);
      if (c.IPSR === 3) {
        // HardFault: the interrupted context's PC is in the exception frame
        const sp = c.SP;
        parts.push(`faulting PC ${this.symbols.describe(this.mcu.readUint32(sp + 24))}`);
      }
    }
    if (c.waiting) parts.push('sleeping (WFI/WFE)');
    return parts;
  }

  /** The emulation loop; resolves when stopped, rejects on an emulation failure. */
  /**
   * Fills the stack region [_stack_end, _stack_start) (from the ELF's symbols) with a pattern before
   * the firmware runs; cortex-m-rt initializes .data and .bss only, so every byte found changed later
   * was written by the stack. Returns the region, or null without symbols.
   */
  paintStack() {
    const lo = this.symbols.datum('_stack_end');
    const hi = this.symbols.datum('_stack_start');
    if (!lo || !hi || !(hi.addr > lo.addr)) return null;
    const base = 0x20000000;
    this.mcu.sram.fill(STACK_PAINT, lo.addr - base, hi.addr - base);
    return { lo: lo.addr, hi: hi.addr };
  }

  /** The deepest the stack has reached so far: bytes below _stack_start written since boot. */
  stackHighWater() {
    const r = this.stackRegion;
    if (!r) return null;
    const base = 0x20000000;
    const sram = this.mcu.sram;
    let a = r.lo - base;
    const end = r.hi - base;
    while (a < end && sram[a] === STACK_PAINT) a++;
    return { used: r.hi - base - a, size: r.hi - r.lo };
  }

  /**
   * An estimate of the heap's high-water mark: the offset of the highest non-zero byte of the heap
   * array (`HEAP_MEM`, zeroed at boot as part of .bss). The allocator takes the lowest free block
   * first and writes a header into every block it frees, so this is close; it can be short by the
   * zeroized tail of the topmost block. Null without symbols.
   */
  heapHighWater() {
    const h = this.symbols.datum('HEAP_MEM');
    if (!h || !h.size) return null;
    const start = h.addr - 0x20000000;
    const sram = this.mcu.sram;
    let a = start + h.size;
    while (a > start && sram[a - 1] === 0) a--;
    return { used: a - start, size: h.size };
  }

  /**
   * Core 1's stack high-water mark: its stack is the firmware's `core1::STACK` (zeroed .bss, grows
   * down from its top), so the lowest non-zero byte marks the deepest use. Null without the symbol.
   */
  core1StackHighWater() {
    const s = this.symbols.datum('5core15STACK');
    if (!s || !s.size) return null;
    const start = s.addr - 0x20000000;
    const sram = this.mcu.sram;
    let a = start;
    while (a < start + s.size && sram[a] === 0) a++;
    return { used: start + s.size - a, size: s.size };
  }

  async run() {
    const { mcu } = this;
    const { clock } = mcu;
    const core = this.core0;
    const mc = this.multicore;
    this.startWall = performance.now();
    try {
      while (!this.stopped) {
        if (this.panic) throw new BoardError(`the firmware panicked: ${this.describeState()}`);
        if (mc.runnable) {
          this.yieldNow = false;
          this.yielded = false;
          this.runBoth();
          await new Promise((resolve) => setImmediate(resolve));
          continue;
        }
        // core 1 is in the ROM, or sleeps: core 0 alone, as on a one-core chip
        if (core.waiting) {
          const next = clock.nextAlarm;
          if (!next) {
            // asleep with nothing scheduled: only the host can wake it
            await new Promise((resolve) => {
              this.wakeup = resolve;
            });
            continue;
          }
          const delta = Math.max(0, next.nanos - clock.nanos);
          if (this.pending > 0) {
            // Let the host react first (a resolved transfer continues in a microtask): the clock
            // only jumps when the host is waiting for the device, not the other way round.
            if (!this.yielded) {
              this.yielded = true;
              await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            this.yielded = false;
            clock.tick(delta);
          } else {
            const t0 = performance.now();
            await this.sleep(Math.min(delta / 1e6, 20));
            const slept = (performance.now() - t0) * 1e6;
            clock.tick(Math.min(delta, slept));
          }
          // an alarm's interrupt may not wake the core (masked): the loop just goes on
          if (core.waiting && core.interruptsUpdated && core.checkForInterrupts()) core.waiting = false;
          mc.pollCore1();
          continue;
        }
        const ns = 1e9 / mcu.clkSys;
        let i = 0;
        this.yieldNow = false;
        this.yielded = false;
        const prof = this.samples;
        if (prof) {
          // --profile: the PC every PROFILE_EVERY instructions (a flat profile per command)
          for (; i < CHUNK && !core.waiting && !this.yieldNow; i++) {
            if (++this.sampleCountdown >= PROFILE_EVERY) {
              this.sampleCountdown = 0;
              prof.push(core.PC);
            }
            const cycles = core.executeInstruction();
            clock.tick(cycles * ns);
          }
        } else {
          for (; i < CHUNK && !core.waiting && !this.yieldNow; i++) {
            const cycles = core.executeInstruction();
            clock.tick(cycles * ns);
          }
        }
        this.instructions += i;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (e) {
      if (mcu.core !== core) {
        this.faultCore = 1;
        mcu.core = core;
      }
      this.failure = e instanceof BootromError || e instanceof BoardError ? e : new BoardError(`${e.message} (${this.describeState()})`);
      if (!(e instanceof BoardError)) this.failure.message += ` — ${this.describeState()}`;
      this.host?.usb && this.ccid?.fail(this.failure);
      throw this.failure;
    }
  }

  /**
   * One chunk with core 1 running: the core whose local time is behind executes (core 0 on a tie;
   * a sleeping core 0 is skipped), one instruction at a time, for as long as it stays behind; after
   * every instruction the clock moves to the earliest local time of the cores still running. Ends
   * when core 1 sleeps or returns to the ROM (core 0 goes on alone), after CHUNK instructions, or
   * when the host wants to see a packet.
   */
  runBoth() {
    const { mcu } = this;
    const { clock } = mcu;
    const c0 = this.core0;
    const mc = this.multicore;
    const c1 = mc.core1;
    const ns = 1e9 / mcu.clkSys;
    const prof = this.samples;
    const prof1 = this.samples1;
    let t0 = this.t0;
    let t1 = this.t1;
    let i = 0;
    let n1 = 0;
    this.steppingBoth = true;
    try {
      while (i < CHUNK && !this.yieldNow && mc.rom === null && !c1.waiting) {
        let now = clock.nanos;
        if (t0 < now) t0 = now;
        if (t1 < now) t1 = now;
        if (!c0.waiting && t0 <= t1) {
          // core 0 while it is not ahead (core 1 keeps running unless core 0 resets it)
          do {
            if (prof && ++this.sampleCountdown >= PROFILE_EVERY) {
              this.sampleCountdown = 0;
              prof.push(c0.PC);
            }
            t0 += c0.executeInstruction() * ns;
            i++;
            const target = mc.rom === null && t1 < t0 ? t1 : t0; // (core 1 runs, unless reset)
            now = clock.nanos;
            if (target > now) clock.tick(target - now);
          } while (t0 <= t1 && !c0.waiting && i < CHUNK && !this.yieldNow && mc.rom === null);
        } else {
          // core 1 while it is behind (or core 0 sleeps)
          mcu.core = c1;
          do {
            if (prof1 && ++this.sampleCountdown1 >= PROFILE_EVERY) {
              this.sampleCountdown1 = 0;
              prof1.push(c1.PC);
            }
            t1 += c1.executeInstruction() * ns;
            i++;
            n1++;
            // the clock: the earliest of the running cores; if none runs, where core 1 stopped
            const target = c0.waiting ? t1 : c1.waiting || mc.rom !== null || t0 < t1 ? t0 : t1;
            now = clock.nanos;
            if (target > now) {
              const alarm = clock.nextAlarm;
              if (alarm && alarm.nanos <= target) {
                // alarm callbacks run as on core 0 (rp2040js's one SysTick pends on `rp2040.core`)
                mcu.core = c0;
                clock.tick(target - now);
                mcu.core = c1;
              } else {
                clock.tick(target - now);
              }
            }
          } while ((c0.waiting || t1 < t0) && !c1.waiting && i < CHUNK && !this.yieldNow && mc.rom === null);
          mcu.core = c0;
        }
      }
    } finally {
      this.steppingBoth = false;
      if (mcu.core !== c0) {
        this.faultCore = 1;
        mcu.core = c0;
      }
      this.t0 = t0;
      this.t1 = t1;
      this.instructions += i;
      this.core1Instructions += n1;
    }
  }

  stop() {
    this.stopped = true;
    this.kick();
    this.flash.close();
  }

  /** Waits (in virtual time) until the firmware enables USB, or fails with the board's state. */
  async waitUsb(maxVirtualMs = 10_000) {
    return this.hostOp(async () => {
      const deadline = this.nanos + maxVirtualMs * 1e6;
      while (!this.host.resetDone) {
        // The panic first: the run loop also turns it into a failure, and whichever of the two
        // loops sees it first must not change what is reported.
        if (this.panic) throw new BoardError(`the firmware panicked before USB came up: ${this.describeState()}`);
        if (this.failure) throw this.failure;
        if (this.nanos > deadline) {
          throw new BoardError(`no USB after ${maxVirtualMs} ms of emulated time: ${this.describeState()}`);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    });
  }

  /** Enumerates the device like a host does, checks it, configures it and sets up the CCID driver. */
  async enumerate() {
    await this.waitUsb();
    return this.hostOp(async () => {
      const h = this.host;
      const first = await h.controlIn(getDescriptor(1, 0, 64));
      if (first.length < 8) throw new BoardError(`GET_DESCRIPTOR(device) returned ${first.length} bytes`);
      await h.controlOut(setupPacket(0x00, 5, 1, 0, 0)); // SET_ADDRESS 1
      const device = parseDeviceDescriptor(await h.controlIn(getDescriptor(1, 0, 18)));
      const head = await h.controlIn(getDescriptor(2, 0, 9));
      const total = head[2] | (head[3] << 8);
      const configBytes = await h.controlIn(getDescriptor(2, 0, total));
      const configuration = parseConfiguration(configBytes);
      const langs = await h.controlIn(getDescriptor(3, 0, 255));
      const lang = langs.length >= 4 ? langs[2] | (langs[3] << 8) : 0x0409;
      const str = async (i) => (i ? parseString(await h.controlIn(getDescriptor(3, i, 255, lang))) : null);
      const strings = {
        manufacturer: await str(device.iManufacturer),
        product: await str(device.iProduct),
        serial: await str(device.iSerial),
      };
      const { problems, endpoints, classDescriptor } = checkDevice({ device, configuration, strings });
      const hex4 = (v) => v.toString(16).toUpperCase().padStart(4, '0');
      this.log.debug(
        `USB: ${hex4(device.vid)}:${hex4(device.pid)} class ${device.deviceClass} "${strings.manufacturer}" "${strings.product}" serial ${strings.serial}; ` +
          `interfaces ${configuration.interfaces.map((i) => `class 0x${i.cls.toString(16)} eps [${i.endpoints.map((e) => `0x${e.address.toString(16)} ${e.type}`).join(', ')}]`).join('; ')}`,
      );
      if (problems.length) {
        throw new BoardError(`the USB device is not the expected CCID reader:\n  - ${problems.join('\n  - ')}`);
      }
      this.device = { device, configuration, strings, endpoints, classDescriptor };
      const outEp = endpoints.bulkOut.address & 0xf;
      const inEp = endpoints.bulkIn.address & 0xf;
      const intEp = endpoints.intIn.address & 0xf;
      const transport = { sendOut: (packets) => this.host.bulkOut(outEp, packets) };
      this.ccid = new CcidHost(transport, { log: this.log });
      const assembler = new InAssembler();
      h.onInPacket(inEp, (p) => {
        const t = assembler.push(p);
        if (t) this.ccid.onInTransfer(t);
      });
      this.slotChanges = [];
      h.onInPacket(intEp, (p) => {
        this.slotChanges.push(Uint8Array.from(p));
        this.log.trace(`CCID: interrupt-IN ${Buffer.from(p).toString('hex')}${p[0] === MSG.NOTIFY_SLOT_CHANGE ? ' (NotifySlotChange)' : ''}`);
      });
      await h.controlOut(setupPacket(0x00, 9, 1, 0, 0)); // SET_CONFIGURATION 1
      return this.device;
    });
  }

  /** A CCID exchange with cost figures: { result, cycles, virtualNs, wallMs, flashBusyNs, ... }. */
  async measure(fn) {
    return this.hostOp(async () => {
      const c0 = this.cycles;
      const k0 = this.core1Cycles;
      const n0 = this.nanos;
      const f0 = this.romServices.flashBusyNs;
      const e0 = this.flash.erases;
      const p0 = this.flash.programs;
      const w0 = performance.now();
      const i0 = this.instructions;
      const s0 = this.samples?.length ?? 0;
      const s1 = this.samples1?.length ?? 0;
      const j0 = this.core1Instructions;
      const result = await fn(this.ccid);
      const samples = this.samples ? this.samples.splice(s0) : null;
      const samples1 = this.samples1 ? this.samples1.splice(s1) : null;
      return {
        result,
        cycles: this.cycles - c0,
        core1Cycles: this.core1Cycles - k0,
        core1Instructions: this.core1Instructions - j0,
        virtualNs: this.nanos - n0,
        flashBusyNs: this.romServices.flashBusyNs - f0,
        erases: this.flash.erases - e0,
        programs: this.flash.programs - p0,
        wallMs: performance.now() - w0,
        instructions: this.instructions - i0,
        profile: samples ? this.flatProfile(samples) : null,
        profile1: samples1 && samples1.length ? this.flatProfile(samples1) : null,
      };
    });
  }

  /** Samples -> [{name, share}] by function, largest first. */
  flatProfile(samples) {
    const by = new Map();
    for (const pc of samples) {
      const f = this.symbols.find(pc);
      const name = f ? f.name : pc < 0x4000 ? '(boot ROM)' : pc >= 0x20000000 && pc < 0x20042000 ? '(RAM code)' : `0x${pc.toString(16)}`;
      by.set(name, (by.get(name) ?? 0) + 1);
    }
    return [...by].sort((a, b) => b[1] - a[1]).map(([name, n]) => ({ name, share: n / samples.length, samples: n }));
  }

  powerOn() {
    return this.measure((c) => c.powerOn());
  }

  powerOff() {
    return this.measure((c) => c.powerOff());
  }

  transmit(apdu) {
    return this.measure((c) => c.transmit(apdu));
  }
}
