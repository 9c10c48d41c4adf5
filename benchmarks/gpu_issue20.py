"""Issue 20's levers in one GPU call (docs/volumes.md): spark3d_tiny / volmae_tiny on volume-shapes,
spark_resnet_tiny on shapes, bmmae_tiny on phantom-mri; each job a plain `anymae pretrain` (fp32) then
`anymae probe` / `anymae impute`, all at once on one GPU. Each job first runs one epoch (at least 60 steps) to
measure its step cost under that load, then its full run at min(its steps, what fits before BUDGET_S, rounded down
to a round number; the seeds of a pair get the same count). Everything small ends in $OUT/r.tgz.
    OUT=/tmp/out PYTHONPATH=src python3 benchmarks/gpu_issue20.py BUDGET_S EVAL_S [JOB,JOB...]  (evaluations end by BUDGET_S + EVAL_S)
The device call gets the code after this docstring compressed into its command line (2,000 characters at most, so
the code is kept short): B85=$(python3 -c "import base64,zlib;s=open('benchmarks/gpu_issue20.py').read();
c=zlib.compressobj(9,8,-15);print(base64.b85encode(c.compress(s[s.index(chr(34)*3,3)+4:].encode())+c.flush()).decode())")
and the command is: PYTHONUNBUFFERED=1 PYTHONPATH=src python3 -c 'import base64,zlib;exec(zlib.decompress(
base64.b85decode("'$B85'"),-15))' 380 150   (one line; that B85 has no quote). Dry-run with a stand-in for
`anymae` only; it has not run on a device yet."""
import os,sys,time,signal,subprocess as S,yaml
T=time.time();B=float(sys.argv[1]);W=float(sys.argv[2]);O=os.environ["OUT"];R="/tmp/i20";os.makedirs(R+"/l")
E={**os.environ,"OMP_NUM_THREADS":"1","MKL_NUM_THREADS":"1"}
J={}
for l in """s3_def spark3d_tiny volume-shapes 1500 0 -
s3_long0 spark3d_tiny volume-shapes 8000 0 a
s3_long1 spark3d_tiny volume-shapes 8000 1 a
s3_b16_0 spark3d_tiny volume-shapes 8000 0 b --batch-size 16 --lr 1e-3
s3_b16_1 spark3d_tiny volume-shapes 8000 1 b --batch-size 16 --lr 1e-3
s3_lr3e-4 spark3d_tiny volume-shapes 8000 0 - --lr 3e-4
s3_m75 spark3d_tiny volume-shapes 8000 0 - --arg mask_ratio=0.75
vm_b16_1 volmae_tiny volume-shapes 3000 1 - --batch-size 16 --lr 1e-3
rn_def0 spark_resnet_tiny shapes 1000 0 c
rn_def1 spark_resnet_tiny shapes 1000 1 c
rn_long0 spark_resnet_tiny shapes 8000 0 d
rn_long1 spark_resnet_tiny shapes 8000 1 d
rn_20k spark_resnet_tiny shapes:20000 8000 0 -
bm_long bmmae_tiny phantom-mri 20000 0 -
bm_p2 bmmae_tiny phantom-mri 20000 0 - --arg patch_size=2
bm_b32 bmmae_tiny phantom-mri 20000 0 - --batch-size 32 --lr 1e-3
bm_dec4 bmmae_tiny phantom-mri 20000 0 - --arg decoder_depth=4
bm_dec192 bmmae_tiny phantom-mri 20000 0 - --arg decoder_dim=192
bm_whole1 bmmae_tiny phantom-mri 20000 0 - --arg whole=1.0""".split("\n"):
    n,r,d,s,e,p,*x=l.split();J[n]=(r,d,int(s),e,p,x)
if len(sys.argv)>3:J={n:j for n,j in J.items()if n in sys.argv[3].split(",")}
A=sys.executable+" -m anymae "
def go(c,f):return S.Popen(c,shell=True,stdout=open(f"{R}/l/{f}.log","w"),stderr=S.STDOUT,env=E,start_new_session=True)
def pre(n,s,t):
    r,d,_,e,_,x=J[n];return go(A+f"pretrain --recipe {r} --data {d} --steps {s} --seed {e} --out {R}/{t}/{n} --precision 32-true --workers 0 "+" ".join(x),t+n)
def wait(p,u):
    try:p.wait(timeout=max(1,u-time.time()+T))
    except S.TimeoutExpired:os.killpg(p.pid,signal.SIGTERM);p.wait()
c={n:pre(n,60,"cal") for n in J}
for p in c.values():p.wait()
k={}
for n in J:
    try:y=yaml.safe_load(open(f"{R}/cal/{n}/config.yaml"));k[n]=y["train_seconds"]/y["steps"]
    except Exception:print(n,"calibration failed")
f=time.time()-T+25;m={}
for n in k:m[n]=min(J[n][2],max([a for a in(500,1000,1500,2000,3000,4000,5000,6000,8000,10000,12000,15000,20000)if a*k[n]*1.15<B-f]or[0]))
for n in m:
    if J[n][4]!="-":m[n]=min(m[o]for o in m if J[o][4]==J[n][4])
    print(n,f"{k[n]*1e3:.0f} ms/step ->",m[n],flush=True)
F={n:pre(n,s,"full")for n,s in m.items()if s}
for n,p in F.items():wait(p,B+60);print(f"{time.time()-T:.0f}s",n,p.returncode,flush=True)
def ev(n):
    o=f"{R}/full/{n}"
    if J[n][0]=="bmmae_tiny":return go(" && ".join(A+f"impute {o} --predict {q} --out {o}/impute-{q}"for q in("flair","t2","t1")),"ev"+n)
    return go(A+f"probe {o} --data "+J[n][1].split(":")[0],"ev"+n)
V={n:ev(n)for n,p in F.items()if p.returncode==0}
for n,p in V.items():wait(p,B+W);print(f"{time.time()-T:.0f}s eval",n,p.returncode,flush=True)
S.run(f"cd {R} && tar czf {O}/r.tgz --exclude='*.safetensors' --exclude='*.ckpt' --exclude=checkpoints .",shell=True)
print(f"{time.time()-T:.0f}s done")
