"""The donor page served by the hub's API: pledge, then follow "what my money did" by donor reference,
and read any group's public ledger. One static document; everything it shows comes from the JSON API,
and it builds the page with ``textContent`` only, so nothing a user typed can become markup.

The donor reference is made for the donor (random, kept in the browser), not asked for: a field
labelled "Donor reference" invited a name, which then travelled in every event of the transfer to
the group's site.
"""

DONOR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>aidmesh: give, and follow your money</title>
<style>
body{font-family:system-ui,sans-serif;max-width:46rem;margin:1rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:1.6rem} label{display:block;margin:.3rem 0}
input,select{padding:.3rem;font-size:1rem} button{padding:.35rem .8rem;font-size:1rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.6rem .8rem;margin:.5rem 0}
.state{font-weight:600} .err{color:#a00} small{color:#555}
</style></head><body>
<h1>Give directly to a mutual-aid group, and see what your money did</h1>
<p><small>Groups and the people they help are never named here. Your e-mail, if you gave one, stays
in the hub's local vault; everything else knows you only by your donor reference.</small></p>

<h2>Pledge</h2>
<form id="pledge">
<label>Your donor reference <input id="donor_ref" name="donor_ref" required
pattern="[A-Za-z0-9_.\\-]{1,64}"></label>
<p><small>Made for you on this device: keep it, it shows what your money did. It is a pseudonym that
every server on the money's way keeps, so never put your name, phone or e-mail in it.</small></p>
<label>Group <input name="group_id" required></label>
<label>Kitchen need (optional) <input name="need_id"></label>
<label>Amount <input name="amount" required placeholder="100.00" inputmode="decimal"></label>
<label>Currency <input name="currency" required value="GBP" size="4"></label>
<button>Pledge</button></form>
<div id="pledged"></div>

<h2>What my money did</h2>
<form id="report"><input id="report_ref" name="donor_ref" placeholder="your donor reference" required>
<button>Show</button></form>
<div id="mine"></div>

<h2>A group's public ledger</h2>
<form id="group"><input name="group_id" placeholder="group id" required> <button>Show</button></form>
<div id="ledger"></div>

<script>
function uuid7(){const b=new Uint8Array(16);crypto.getRandomValues(b);let t=Date.now();
for(let i=5;i>=0;i--){b[i]=t%256;t=Math.floor(t/256);}b[6]=(b[6]&15)|112;b[8]=(b[8]&63)|128;
const h=[...b].map(x=>x.toString(16).padStart(2,"0")).join("");
return h.slice(0,8)+"-"+h.slice(8,12)+"-"+h.slice(12,16)+"-"+h.slice(16,20)+"-"+h.slice(20);}
function keep(k,v){try{localStorage.setItem(k,v);}catch(e){}}
function myRef(){let r=null;try{r=localStorage.getItem("donor_ref");}catch(e){}
if(!r){const b=new Uint8Array(16);crypto.getRandomValues(b);r="d-"+btoa(String.fromCharCode(...b))
.replace(/[+]/g,"-").replace(/[/]/g,"_").replace(/=+$/,"");keep("donor_ref",r);}return r;}
for(const id of ["donor_ref","report_ref"])document.getElementById(id).value=myRef();
function el(tag,text,cls){const e=document.createElement(tag);if(text!==undefined)e.textContent=text;
if(cls)e.className=cls;return e;}
function amt(m){return m?m.amount+" "+m.currency:"";}
async function call(method,path,body){const r=await fetch(path,{method,headers:{"content-type":
"application/json"},body:body?JSON.stringify(body):undefined});const j=await r.json();
if(!j.ok){const e=new Error(j.error.message);e.status=r.status;throw e;}return j.result;}
function show(where,nodes){const d=document.getElementById(where);d.replaceChildren(...nodes);}
function fail(where,e){show(where,[el("p",e.message,"err")]);}
document.getElementById("pledge").onsubmit=async ev=>{ev.preventDefault();
const f=Object.fromEntries(new FormData(ev.target));if(!f.need_id)delete f.need_id;
keep("donor_ref",f.donor_ref);
const body=JSON.stringify(f);let p=null;try{p=JSON.parse(localStorage.getItem("pending"));}catch(e){}
if(!p||p.body!==body){p={id:uuid7(),body};localStorage.setItem("pending",JSON.stringify(p));}
f.transfer_id=p.id;
try{const r=await call("POST","/v1/pledges",f);localStorage.removeItem("pending");
show("pledged",[el("p","Pledged: transfer "+r.transfer_id+" ("+r.state+")"),el("p",r.instructions)]);}
catch(e){if(e.status&&e.status<500)localStorage.removeItem("pending");fail("pledged",e);}};
document.getElementById("report").onsubmit=async ev=>{ev.preventDefault();
const ref=new FormData(ev.target).get("donor_ref");
try{const r=await call("GET","/v1/donors/"+encodeURIComponent(ref)+"/report");const out=[];
for(const t of r.transfers){const c=el("div",undefined,"card");
c.append(el("div",(t.group.label||t.group.group_id)+": "+amt(t.pledged)));
c.append(el("div","state: "+t.state,"state"));
if(t.delivered)c.append(el("div","delivered: "+amt(t.delivered)+" (rate "+t.rate+", fee "+amt(t.fee)+")"));
for(const d of t.disbursements){let s=amt(d.from_this_transfer)+" for "+d.purpose;
if(d.need&&d.need.item)s+=": "+d.need.quantity+" "+d.need.unit+" "+d.need.item+(d.need.met?" (met)":"");
c.append(el("div",s));}out.push(c);}
if(r.next_offset!==null)out.push(el("p","Only your "+r.transfers.length+" oldest transfers are shown."));
for(const k of r.kitchens)out.push(el("p","Kitchen "+k.kitchen_id+" has served "+
k.meals_served_since+" meals since your money reached it on "+k.reached_on+"."));
if(!out.length)out.push(el("p","No transfers for this reference yet."));show("mine",out);}
catch(e){fail("mine",e);}};
document.getElementById("group").onsubmit=async ev=>{ev.preventDefault();
const id=new FormData(ev.target).get("group_id");
try{const r=await call("GET","/v1/groups/"+encodeURIComponent(id)+"/report");
const out=[el("p",r.label+" (holds "+(r.balance.map(amt).join(", ")||"nothing")+")")];
for(const m of r.months){const c=el("div",undefined,"card");c.append(el("div",m.month,"state"));
for(const x of m.received)c.append(el("div","received "+amt(x)));
for(const x of m.disbursed)c.append(el("div","spent "+amt(x)+" on "+x.purpose));out.push(c);}
show("ledger",out);}catch(e){fail("ledger",e);}};
</script></body></html>
"""
