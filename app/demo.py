"""Demo data: a believable channel for a fictional manufacturer, 浙江华康药业股份有限公司.

``seed_demo`` loads the regions (when the table is empty), ~150 products in six product lines, ~60 distributors in
two tiers, ~5,000 terminals with realistic names across ten provinces, target terminal lists, the manufacturer's
warehouses and quarantine, and one user per role. Everything comes from ``random.Random`` streams derived from the
seed, so the same seed and business date (:func:`app.clock.today`) give the same data.

It works in two steps: :func:`build_plan` turns the seed, the regions and the business date into plain values (no
session, no writes), and :func:`seed_demo` writes that plan. Like every service it only adds and flushes; the CLI
commits.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, insert, select

from app import clock
from app.extensions import db
from app.models import (
    Distributor,
    LocationKind,
    Product,
    ProductLine,
    Region,
    StockLocation,
    TargetList,
    TargetListEntry,
    Terminal,
)
from app.tenancy import Actor, acting_as

DEFAULT_SEED = 20261122
MANUFACTURER = "浙江华康药业股份有限公司"
GS1_COMPANY_PREFIX = "6937215"  # fictional: "69" (GS1 China) + a 5-digit company number
BATCH = 500

# -- the demo logins (printed by `flask drp seed-demo`; change them after the first login) ------------------------
DEMO_USERS = (
    # username, password, role, display name, distributor code
    ("admin", "Demo-2026-admin", "admin", "系统管理员", None),
    ("manager", "Demo-2026-manager", "channel_manager", "陈晓东（渠道经理）", None),
    ("finance", "Demo-2026-finance", "finance", "林丽华（财务）", None),
    ("viewer", "Demo-2026-viewer", "viewer", "王建国（只读）", None),
    ("dist_zj", "Demo-2026-distzj", "distributor", None, "ZJ101"),
    ("dist_gd", "Demo-2026-distgd", "distributor", None, "GD101"),
)

# -- product lines and the catalogue --------------------------------------------------------------------------------
PRODUCT_LINES = (("CV", "心血管"), ("AI", "抗感染"), ("GI", "消化"), ("RS", "呼吸"), ("EN", "内分泌"), ("NS", "神经"))
RX_LINES = frozenset({"CV", "AI", "EN", "NS"})  # sold mostly through hospitals; GI and RS sell well in pharmacies

# "generic name|dosage form|base unit|spec;spec|flags" — flags: Z 中药 (国药准字Z), S 生物制品 (国药准字S),
# C cold chain (2-8℃). Specs of one generic and strength share an approval number.
CATALOGUE = {
    "CV": (
        "阿托伐他汀钙片|片剂|盒|10mg*7片;20mg*7片;20mg*14片|",
        "瑞舒伐他汀钙片|片剂|盒|5mg*7片;10mg*7片;10mg*28片|",
        "苯磺酸氨氯地平片|片剂|盒|5mg*7片;5mg*28片|",
        "硝苯地平控释片|片剂|盒|30mg*7片|",
        "缬沙坦胶囊|胶囊剂|盒|80mg*7粒;80mg*28粒|",
        "厄贝沙坦片|片剂|盒|0.15g*7片;0.15g*14片|",
        "氯沙坦钾片|片剂|盒|50mg*7片;100mg*7片|",
        "替米沙坦片|片剂|盒|40mg*14片|",
        "琥珀酸美托洛尔缓释片|片剂|盒|23.75mg*7片;47.5mg*7片|",
        "富马酸比索洛尔片|片剂|盒|5mg*10片|",
        "硫酸氢氯吡格雷片|片剂|盒|75mg*7片;75mg*28片|",
        "阿司匹林肠溶片|片剂|盒|100mg*30片|",
        "单硝酸异山梨酯缓释片|片剂|盒|40mg*24片|",
        "盐酸曲美他嗪缓释片|片剂|盒|35mg*30片|",
        "利伐沙班片|片剂|盒|10mg*10片|",
        "复方丹参滴丸|丸剂|瓶|27mg*180丸|Z",
        "前列地尔注射液|注射剂|支|2ml:10μg|C",
        "注射用丹参多酚酸盐|注射剂|瓶|100mg|Z",
        "螺内酯片|片剂|瓶|20mg*100片|",
    ),
    "AI": (
        "头孢克肟分散片|片剂|盒|0.1g*6片;0.1g*12片|",
        "头孢呋辛酯片|片剂|盒|0.25g*12片|",
        "头孢克洛胶囊|胶囊剂|盒|0.25g*12粒|",
        "头孢丙烯分散片|片剂|盒|0.25g*6片|",
        "阿莫西林胶囊|胶囊剂|盒|0.25g*24粒;0.5g*24粒|",
        "阿莫西林克拉维酸钾片|片剂|盒|0.375g*12片|",
        "阿奇霉素片|片剂|盒|0.25g*6片|",
        "阿奇霉素干混悬剂|颗粒剂|盒|0.1g*6袋|",
        "克拉霉素片|片剂|盒|0.25g*6片|",
        "左氧氟沙星片|片剂|盒|0.5g*4片|",
        "盐酸莫西沙星片|片剂|盒|0.4g*3片|",
        "乳酸左氧氟沙星氯化钠注射液|注射剂|瓶|100ml:0.5g|",
        "注射用头孢曲松钠|注射剂|瓶|0.5g;1.0g;2.0g|",
        "注射用头孢呋辛钠|注射剂|瓶|0.75g;1.5g|",
        "注射用头孢哌酮钠舒巴坦钠|注射剂|瓶|1.5g|",
        "注射用哌拉西林钠他唑巴坦钠|注射剂|瓶|4.5g|",
        "注射用美罗培南|注射剂|瓶|0.5g|",
        "磷酸奥司他韦胶囊|胶囊剂|盒|75mg*10粒|",
        "氟康唑胶囊|胶囊剂|盒|150mg*1粒|",
        "阿昔洛韦片|片剂|盒|0.2g*24片|",
        "磷霉素氨丁三醇散|散剂|盒|3g*1袋|",
        "莫匹罗星软膏|软膏剂|支|2%:5g|",
        "左氧氟沙星滴眼液|滴眼剂|支|5ml:24.4mg|",
    ),
    "GI": (
        "奥美拉唑肠溶胶囊|胶囊剂|盒|20mg*14粒;20mg*28粒|",
        "泮托拉唑钠肠溶片|片剂|盒|40mg*7片|",
        "雷贝拉唑钠肠溶片|片剂|盒|10mg*7片;20mg*7片|",
        "艾司奥美拉唑镁肠溶片|片剂|盒|20mg*7片;40mg*7片|",
        "注射用泮托拉唑钠|注射剂|瓶|40mg|",
        "注射用奥美拉唑钠|注射剂|瓶|40mg|",
        "兰索拉唑肠溶胶囊|胶囊剂|盒|30mg*14粒|",
        "铝碳酸镁咀嚼片|片剂|盒|0.5g*20片|",
        "枸橼酸莫沙必利片|片剂|盒|5mg*24片|",
        "多潘立酮片|片剂|盒|10mg*30片|",
        "蒙脱石散|散剂|盒|3g*10袋|",
        "双歧杆菌三联活菌胶囊|胶囊剂|盒|210mg*36粒|SC",
        "枯草杆菌二联活菌颗粒|颗粒剂|盒|1g*10袋|S",
        "乳果糖口服溶液|口服溶液剂|瓶|100ml:66.7g|",
        "聚乙二醇4000散|散剂|盒|10g*10袋|",
        "匹维溴铵片|片剂|盒|50mg*15片|",
        "熊去氧胆酸胶囊|胶囊剂|盒|250mg*25粒|",
        "瑞巴派特片|片剂|盒|0.1g*24片|",
        "马来酸曲美布汀片|片剂|盒|0.1g*30片|",
        "胰酶肠溶胶囊|胶囊剂|盒|0.15g*20粒|",
        "开塞露|其他|支|20ml|",
        "香砂养胃丸|丸剂|瓶|浓缩丸*200丸|Z",
    ),
    "RS": (
        "盐酸氨溴索片|片剂|盒|30mg*20片|",
        "盐酸氨溴索口服溶液|口服溶液剂|瓶|100ml:0.6g|",
        "盐酸氨溴索注射液|注射剂|支|2ml:15mg|",
        "乙酰半胱氨酸泡腾片|片剂|盒|0.6g*10片|",
        "布地奈德福莫特罗粉吸入剂|其他|支|160μg/4.5μg*60吸|",
        "硫酸沙丁胺醇吸入气雾剂|喷雾剂|支|100μg*200揿|",
        "孟鲁司特钠片|片剂|盒|10mg*10片|",
        "孟鲁司特钠咀嚼片|片剂|盒|4mg*10片;5mg*10片|",
        "吸入用布地奈德混悬液|其他|盒|2ml:1mg*5支|",
        "羧甲司坦口服溶液|口服溶液剂|盒|10ml:0.5g*10支|",
        "复方甲氧那明胶囊|胶囊剂|盒|60粒|",
        "桉柠蒎肠溶软胶囊|胶囊剂|盒|0.3g*12粒|",
        "茶碱缓释片|片剂|盒|0.1g*24片|",
        "多索茶碱片|片剂|盒|0.2g*24片|",
        "噻托溴铵粉吸入剂|其他|盒|18μg*10粒|",
        "氯雷他定片|片剂|盒|10mg*6片|",
        "盐酸西替利嗪片|片剂|盒|10mg*12片|",
        "糠酸莫米松鼻喷雾剂|喷雾剂|支|50μg*60揿|",
        "布地奈德鼻喷雾剂|喷雾剂|支|64μg*120喷|",
        "急支糖浆|口服溶液剂|瓶|200ml|Z",
        "蓝芩口服液|口服溶液剂|盒|10ml*12支|Z",
        "苏黄止咳胶囊|胶囊剂|盒|0.45g*12粒|Z",
        "小儿肺热咳喘颗粒|颗粒剂|盒|3g*6袋|Z",
        "复方鲜竹沥液|口服溶液剂|盒|20ml*6支|Z",
    ),
    "EN": (
        "盐酸二甲双胍片|片剂|盒|0.5g*20片;0.5g*60片|",
        "盐酸二甲双胍缓释片|片剂|盒|0.5g*30片|",
        "格列美脲片|片剂|盒|2mg*15片|",
        "阿卡波糖片|片剂|盒|50mg*30片|",
        "格列齐特缓释片|片剂|盒|30mg*30片|",
        "瑞格列奈片|片剂|盒|1mg*30片|",
        "磷酸西格列汀片|片剂|盒|100mg*14片|",
        "沙格列汀片|片剂|盒|5mg*7片|",
        "利格列汀片|片剂|盒|5mg*7片|",
        "达格列净片|片剂|盒|10mg*14片|",
        "恩格列净片|片剂|盒|10mg*10片|",
        "盐酸吡格列酮片|片剂|盒|15mg*7片|",
        "甘精胰岛素注射液|注射剂|支|3ml:300单位|SC",
        "门冬胰岛素注射液|注射剂|支|3ml:300单位|SC",
        "精蛋白人胰岛素混合注射液(30R)|注射剂|支|3ml:300IU|SC",
        "利拉鲁肽注射液|注射剂|支|3ml:18mg|SC",
        "左甲状腺素钠片|片剂|盒|50μg*100片|",
        "甲巯咪唑片|片剂|盒|10mg*50片|",
        "阿仑膦酸钠片|片剂|盒|70mg*4片|",
        "骨化三醇软胶囊|胶囊剂|盒|0.25μg*10粒|",
        "碳酸钙D3片|片剂|瓶|600mg*60片|",
        "依帕司他片|片剂|盒|50mg*20片|",
        "非布司他片|片剂|盒|40mg*16片|",
        "津力达颗粒|颗粒剂|盒|9g*9袋|Z",
    ),
    "NS": (
        "甲钴胺片|片剂|盒|0.5mg*20片|",
        "甲钴胺注射液|注射剂|支|1ml:0.5mg|",
        "加巴喷丁胶囊|胶囊剂|盒|0.3g*24粒|",
        "普瑞巴林胶囊|胶囊剂|盒|75mg*14粒|",
        "丙戊酸钠缓释片|片剂|盒|0.5g*30片|",
        "左乙拉西坦片|片剂|盒|0.5g*30片|",
        "卡马西平片|片剂|瓶|0.1g*100片|",
        "奥卡西平片|片剂|盒|0.3g*50片|",
        "拉莫三嗪片|片剂|盒|50mg*30片|",
        "盐酸多奈哌齐片|片剂|盒|5mg*28片|",
        "盐酸美金刚片|片剂|盒|10mg*28片|",
        "盐酸舍曲林片|片剂|盒|50mg*14片|",
        "草酸艾司西酞普兰片|片剂|盒|10mg*7片|",
        "盐酸帕罗西汀片|片剂|盒|20mg*10片|",
        "盐酸度洛西汀肠溶胶囊|胶囊剂|盒|60mg*14粒|",
        "奥氮平片|片剂|盒|5mg*28片|",
        "富马酸喹硫平片|片剂|盒|0.1g*30片|",
        "阿立哌唑片|片剂|盒|5mg*20片|",
        "右佐匹克隆片|片剂|盒|3mg*7片|",
        "尼莫地平片|片剂|盒|30mg*20片|",
        "胞磷胆碱钠胶囊|胶囊剂|盒|0.1g*24粒|",
        "依达拉奉注射液|注射剂|支|20ml:30mg|",
        "丁苯酞软胶囊|胶囊剂|盒|0.1g*24粒|",
        "银杏叶片|片剂|盒|19.2mg:4.8mg*24片|Z",
        "注射用鼠神经生长因子|注射剂|瓶|20μg|SC",
        "天麻素注射液|注射剂|支|2ml:0.2g|",
        "利多卡因凝胶贴膏|贴剂|盒|14cm×10cm*5贴|",
    ),
}
BRAND_CHARS = "康立舒安宁欣泰达瑞迪乐平通清畅宜维倍优易佳捷诺恒"
STORAGE_PLAIN = ("遮光，密封保存", "密封，在干燥处保存", "密封，在阴凉处（不超过20℃）保存", "密封，30℃以下保存")
STORAGE_COLD = "2-8℃冷藏，避光保存，不得冷冻"
STORAGE_INJECTION = "遮光，密闭，在阴凉处（不超过20℃）保存"

# -- geography ------------------------------------------------------------------------------------------------------
# province code, distributor code prefix, licence prefix, tier-1 count, tier-2 count, terminals,
# ((city code, weight by size, telephone area code), ...) — weights decide how many terminals each city gets
PROVINCES = (
    ("33", "ZJ", "浙", 3, 7, 950, (("3301", 10, "571"), ("3302", 7, "574"), ("3303", 6, "577"), ("3307", 4, "579"),
                                    ("3310", 4, "576"), ("3306", 3.5, "575"), ("3304", 3, "573"), ("3305", 2.5, "572"),
                                    ("3308", 1.5, "570"), ("3311", 1.5, "578"), ("3309", 1, "580"))),
    ("32", "JS", "苏", 2, 5, 650, (("3201", 8, "025"), ("3205", 8, "512"), ("3202", 5, "510"), ("3203", 4, "516"),
                                    ("3204", 3, "519"), ("3206", 3, "513"), ("3210", 2, "514"))),
    ("31", "SH", "沪", 2, 2, 400, (("3101", 1, "021"),)),
    ("11", "BJ", "京", 2, 2, 380, (("1101", 1, "010"),)),
    ("44", "GD", "粤", 3, 6, 700, (("4401", 9, "020"), ("4403", 8, "755"), ("4406", 4, "757"), ("4419", 4, "769"),
                                    ("4404", 2, "756"), ("4405", 2, "754"), ("4408", 2, "759"))),
    ("37", "SD", "鲁", 2, 5, 450, (("3701", 6, "531"), ("3702", 6, "532"), ("3706", 3, "535"), ("3707", 3, "536"),
                                    ("3713", 3, "539"), ("3708", 2, "537"))),
    ("51", "SC", "川", 2, 4, 400, (("5101", 10, "028"), ("5107", 2, "816"), ("5106", 1.5, "838"),
                                    ("5113", 1.5, "817"), ("5115", 1.5, "831"))),
    ("50", "CQ", "渝", 1, 2, 300, (("5001", 3, "023"), ("5002", 1, "023"))),
    ("41", "HA", "豫", 2, 5, 400, (("4101", 7, "371"), ("4103", 3, "379"), ("4107", 2, "373"), ("4113", 2, "377"),
                                    ("4190", 1, "391"))),
    ("42", "HB", "鄂", 2, 4, 400, (("4201", 8, "027"), ("4205", 2, "717"), ("4206", 2, "710"), ("4210", 1.5, "716"),
                                    ("4290", 1.5, "728"))),
)
# (code, name, kind, region code, address, note)
LOCATIONS = (
    ("HK-WH-HZ", "杭州总仓", "manufacturer", "330110", "浙江省杭州市余杭区仓前街道华康路8号", None),
    ("HK-WH-CD", "成都分仓", "manufacturer", "510116", "四川省成都市双流区西航港物流园B区12号", None),
    ("HK-WH-GZ", "广州分仓", "manufacturer", "440111", "广东省广州市白云区太和镇医药物流中心3号库", None),
    ("HK-WH-ZZ", "郑州分仓", "manufacturer", "410122", "河南省郑州市中牟县官渡大道医药港6号", None),
    ("HK-QT-HZ", "杭州总仓隔离库", "quarantine", "330110", "浙江省杭州市余杭区仓前街道华康路8号",
     "退货、召回及待验品；不得发货"),
)
MARKER_LOCATION = "HK-WH-HZ"
ZONE_WORDS = ("开发区", "园区", "示范区")

# -- names ------------------------------------------------------------------------------------------------------
SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
            "姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严武戴孔汤")
GIVEN_NAMES = ("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 霞 平 刚 秀英 建国 建华 志强 国庆 海燕 晓东 "
               "丽华 文斌 春梅 晓红 卫东 振华 永刚 德明 新民 秋菊 玉兰 建军 红梅 立新 志刚 宏伟 建平 爱国 光辉 "
               "雪梅 俊杰 思远 嘉怡 浩然 欣怡 文静 海涛 凤英 桂兰 永红 小燕 志明 德华 少华 慧敏 建新 云飞").split()
ROADS = ("人民路 解放路 中山路 建设路 新华路 和平路 胜利路 文化路 健康路 学院路 长江路 黄河路 延安路 青年路 朝阳路 "
         "光明路 环城路 滨江路 湖滨路 东风路 红旗路 五一路 工农路 民主路 复兴路 振兴路 兴业路 金桥路 银河路 文昌路 "
         "府前路 县前街 北大街 南大街 东大街 西大街 十字街 新村路 园林路 体育路 公园路 车站路 迎宾大道 世纪大道 "
         "发展大道 科技路 创业路 工业路 商业街 花园路 幸福路 友谊路 团结路 育才路 学府路 书院路 望江路 观澜路 "
         "翠苑路 紫荆路 桂花路 梧桐路 香樟路 玉兰路 海棠路 枫林路 松柏路 龙山路 凤凰路 金山路 银湖路 明珠路 新城路 "
         "城南路 城北路 城东路 城西路").split()
STREETS = ("城东 城西 城南 城北 新华 解放 人民 和平 胜利 长安 朝阳 光明 幸福 东湖 南湖 滨江 江南 江北 河西 湖滨 "
           "文华 兴华 建设 五一 红旗 东风 前进 团结 新城 老城 龙山 凤凰 金山 银湖 青龙 白云 花园 桂园 翠苑 北山 "
           "紫阳 望江 府前 文新 古荡 西溪 大关 米市").split()
TOWNS = ("新塘 石桥 河口 龙泉 白马 青山 金桥 黄田 三江 双溪 马头 桥头 新安 永安 长乐 太平 安仁 万福 大同 兴隆 平安 "
         "高桥 柳桥 杨村 李庄 王集 张店 刘集 陈家 马坪 梅林 竹园 松林 桃源 杏花 荷花 东山 西山 南山 横山 临江 沿江 "
         "江口 溪口 坝头 塘下 港口 湖塘 周村 官庄 古城 新市 双桥 石门 莲花 分水 百步 城关").split()
TRADE_WORDS = ("康健 华瑞 仁和 恒泰 瑞康 汇通 天禾 众康 安泰 嘉和 百草 同润 德信 永康 万和 博爱 益民 惠民 康泰 "
               "鑫源 恒信 长青 弘康 裕康 润和 泰和 瑞丰 新特 海川 中联 宏济 广济 福康 寿康 天和 康宁 华森 济民 "
               "顺和 国康 普济 仁德 怡康 保和 金康 康源 百信 佳禾 欣和 瑞祥 聚康 安康 恒康 泽康 康乐 康华 德康 "
               "仁济 春晖").split()
LOCAL_ROADS = {"3301": ("文三路", "教工路", "庆春路", "凤起路", "天目山路", "莫干山路", "文一西路"),
               "3101": ("南京西路", "淮海中路", "四川北路", "漕溪北路", "张杨路"),
               "1101": ("朝阳门外大街", "西直门外大街", "复兴门内大街", "中关村大街", "望京街"),
               "4401": ("天河路", "环市东路", "江南大道", "沿江中路", "广州大道"),
               "5101": ("春熙路", "蜀都大道", "人民南路", "红星路", "科华北路")}
HALL_WORDS = "回春 保和 同春 益寿 德仁 天一 济生 万年 广生 仁寿 长春 福寿 延年 寿仁 养生 宏仁".split()
CHAINS_COMMON = ("老百姓大药房", "益丰大药房", "大参林", "一心堂", "国大药房", "海王星辰")
CHAINS_LOCAL = {
    "33": ("华东大药房", "九洲大药房", "天天好大药房"),
    "32": ("百信缘大药房", "先声再康"),
    "31": ("华氏大药房", "第一医药", "雷允上"),
    "11": ("金象大药房", "嘉事堂", "永安堂"),
    "44": ("采芝林", "健民大药房"),
    "37": ("漱玉平民大药房", "立健药店"),
    "51": ("太极大药房", "德仁堂", "杏林药房"),
    "50": ("和平药房", "桐君阁大药房"),
    "41": ("张仲景大药房",),
    "42": ("马应龙大药房", "同济堂"),
}
# city-level public hospitals: suffix, grade in a (big, mid, small) city, alias templates ({s}: the city's short name)
CITY_HOSPITALS = {
    "人民医院": (("三级甲等", "三级甲等", "三级乙等"), ("{s}人医", "{s}市医院")),
    "第一人民医院": (("三级甲等", "三级甲等", "三级乙等"), ("{s}一院", "{s}市一医院")),
    "第二人民医院": (("三级甲等", "三级乙等", "二级甲等"), ("{s}二院", "{s}市二医院")),
    "第三人民医院": (("三级乙等", "二级甲等", "二级甲等"), ("{s}三院",)),
    "中医院": (("三级甲等", "三级甲等", "三级乙等"), ("{s}中医院", "{s}市中医医院")),
    "中心医院": (("三级甲等", "三级乙等", "二级甲等"), ("{s}中心医院",)),
    "妇幼保健院": (("三级甲等", "三级", "二级甲等"), ("{s}妇幼", "{s}市妇保")),
    "儿童医院": (("三级甲等", "三级", "二级甲等"), ("{s}儿童医院", "{s}市儿院")),
    "肿瘤医院": (("三级甲等", "三级乙等", "二级甲等"), ("{s}肿瘤医院",)),
    "精神卫生中心": (("三级甲等", "三级乙等", "二级甲等"), ("{s}精卫中心",)),
    "传染病医院": (("三级", "二级甲等", "二级甲等"), ("{s}传染病院",)),
}
CITY_HOSPITAL_SETS = (
    ("第一人民医院", "第二人民医院", "中医院", "中心医院", "妇幼保健院", "第三人民医院", "儿童医院", "肿瘤医院",
     "精神卫生中心", "传染病医院"),
    ("人民医院", "中医院", "中心医院", "第二人民医院", "妇幼保健院", "第三人民医院"),
    ("人民医院", "中医院", "妇幼保健院", "第二人民医院"),
)
# provincial hospitals in the capital: name template ({p} 浙江省, {s} 浙江), aliases; municipalities get the
# university hospitals only (their city hospitals play the provincial role)
PROVINCIAL_HOSPITALS = (
    ("{p}人民医院", ("{s}省人医",), False),
    ("{p}中医院", ("{s}中医院",), False),
    ("{p}肿瘤医院", ("{s}肿瘤医院",), False),
    ("{p}妇幼保健院", ("{s}省妇保",), False),
    ("{p}儿童医院", (), False),
    ("{s}医科大学附属第一医院", ("{s}医大一院", "{s}医大附一院"), True),
    ("{s}医科大学附属第二医院", ("{s}医大二院",), True),
    ("{s}中医药大学附属医院", (), True),
)
HOSPITAL_SCORE = {"三级甲等": 12, "三级乙等": 9, "三级": 9, "二级甲等": 6, "二级乙等": 4, "二级": 4, "一级": 2,
                  "未定级": 1.5}


# -- plain values the plan is made of -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegionInfo:
    code: str
    name: str
    official_name: str
    level: int
    parent: str | None
    is_pseudo_city: bool


@dataclass(frozen=True)
class Place:
    """A county-level unit (or a city without counties, such as 东莞) that terminals and distributors sit in."""

    code: str
    name: str  # 西湖区
    short: str  # 西湖
    prefix: str  # how local institutions are named: 杭州市西湖区, 桐庐县, 济源市
    full: str  # for addresses: 浙江省杭州市西湖区
    urban: bool  # a city district (or a city without counties)
    zone: bool = False  # a development zone (开发区, 工业园区): pharmacies and clinics, no county hospitals


@dataclass
class CityUnit:
    code: str
    name: str  # 杭州市
    short: str  # 杭州
    weight: float
    area_code: str
    places: list[Place]
    city_hospitals: bool = True  # False for 重庆's 县 group, which is no city
    pseudo: bool = False  # a 省直辖县级 unit (济源, 仙桃) standing in for a city
    roads: tuple[str, ...] = ()


@dataclass
class ProvincePlan:
    code: str  # 2 digits
    region_code: str  # 6 digits
    name: str  # 浙江省
    short: str  # 浙江
    municipality: bool
    units: list[CityUnit]


@dataclass
class DemoPlan:
    seed: int
    today: date
    products: list[dict] = field(default_factory=list)
    distributors: list[dict] = field(default_factory=list)
    terminals: list[dict] = field(default_factory=list)
    target_lists: list[dict] = field(default_factory=list)
    locations: list[dict] = field(default_factory=list)
    users: list[dict] = field(default_factory=list)


def _rng(seed: int, part: str) -> random.Random:
    """An independent stream per part, so changing one part of the demo leaves the others as they were."""
    return random.Random(f"{seed}:{part}")


def gtin13(body12: str) -> str:
    """Append the GS1 mod-10 check digit to a 12-digit body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body12)))
    return body12 + str((10 - total % 10) % 10)


def _strip(name: str, suffixes: str) -> str:
    for s in suffixes:
        if name.endswith(s) and len(name) > 2:
            return name[: -len(s)]
    return name


# -- the plan ---------------------------------------------------------------------------------------------------
def load_regions_info() -> dict[str, RegionInfo]:
    """All regions as plain values keyed by code."""
    rows = db.session.execute(
        select(Region.id, Region.code, Region.name, Region.official_name, Region.level, Region.parent_id,
               Region.is_pseudo_city)
    ).all()
    code_by_id = {r.id: r.code for r in rows}
    return {r.code: RegionInfo(r.code, r.name, r.official_name, r.level, code_by_id.get(r.parent_id),
                               bool(r.is_pseudo_city)) for r in rows}


def _provinces(regions: dict[str, RegionInfo]) -> list[ProvincePlan]:
    children: dict[str, list[RegionInfo]] = {}
    for r in regions.values():
        if r.parent:
            children.setdefault(r.parent, []).append(r)
    for kids in children.values():
        kids.sort(key=lambda r: r.code)
    out = []
    for pcode, _prefix, _abbr, _t1, _t2, _n, cities in PROVINCES:
        prov = regions[pcode + "0000"]
        municipality = prov.name.endswith("市")
        pshort = _strip(prov.name, ("省", "市"))
        units = []
        for ccode, weight, area in cities:
            city = regions[ccode + "00"]
            kids = children.get(city.code, [])
            if city.is_pseudo_city:
                for k in kids:  # each 省直辖县级 unit acts as a city of its own
                    place = Place(k.code, k.name, _strip(k.name, ("林区", "市", "县", "区")), k.name,
                                  prov.name + k.name, False)
                    units.append(CityUnit(k.code, k.name, place.short, weight / len(kids), area, [place], pseudo=True,
                                      roads=tuple(ROADS)))
                continue
            if city.official_name in ("市辖区", "县"):
                cname, cshort, in_full = prov.name, pshort, ""
            else:
                cname, cshort, in_full = city.name, _strip(city.name, ("市",)), city.name
            places = []
            for k in kids or [city]:
                if k is city:  # 东莞, 中山: no counties
                    places.append(Place(k.code, k.name, cshort, k.name, prov.name + k.name, True))
                    continue
                urban = k.name.endswith("区")
                zone = any(w in k.name for w in ZONE_WORDS)
                prefix = k.name if zone or not urban else cname + k.name
                places.append(Place(k.code, k.name, _strip(k.name, ("区", "县", "市")), prefix,
                                    prov.name + in_full + k.name, urban, zone))
            roads = (*ROADS, *LOCAL_ROADS.get(ccode, ()))
            units.append(CityUnit(city.code, cname, cshort, weight, area, places,
                                  city_hospitals=city.official_name != "县", roads=roads))
        out.append(ProvincePlan(pcode, prov.code, prov.name, pshort, municipality, units))
    return out


def build_plan(regions: dict[str, RegionInfo], seed: int = DEFAULT_SEED, today: date | None = None) -> DemoPlan:
    """The whole demo as plain values, from the seed, the regions and the business date alone (no writes)."""
    today = today or clock.today()
    provinces = _provinces(regions)
    plan = DemoPlan(seed=seed, today=today)
    plan.products = _plan_products(_rng(seed, "products"))
    plan.distributors = _plan_distributors(_rng(seed, "distributors"), provinces, today)
    plan.terminals = _plan_terminals(_rng(seed, "terminals"), provinces)
    plan.target_lists = _plan_target_lists(_rng(seed, "targets"), provinces, plan.terminals, today.year)
    plan.locations = [dict(code=c, name=n, kind=k, region_code=r, address=a, note=note)
                      for c, n, k, r, a, note in LOCATIONS]
    names = {d["code"]: d["name"] for d in plan.distributors}
    plan.users = [dict(username=u, password=p, role=role, display_name=dn or names.get(dc, u), distributor_code=dc)
                  for u, p, role, dn, dc in DEMO_USERS]
    return plan


def _pack_size(rng: random.Random, form: str, unit: str, spec: str, cold: bool) -> int:
    if cold:
        return rng.choice((100, 200, 240))
    if form == "注射剂" and unit == "瓶":
        return rng.choice((40, 60)) if spec.startswith("100ml") else rng.choice((200, 250, 300, 500))
    if form == "注射剂":
        return rng.choice((300, 400, 500, 600))
    if form == "口服溶液剂":
        return rng.choice((40, 60, 80)) if unit == "瓶" else rng.choice((60, 80, 100))
    if unit == "支":
        return rng.choice((200, 300, 400))
    if unit == "瓶":
        return rng.choice((100, 120, 200))
    return rng.choice((200, 240, 300, 400, 500, 600))


def _plan_products(rng: random.Random) -> list[dict]:
    total = sum(len(row.split("|")[3].split(";")) for rows in CATALOGUE.values() for row in rows)
    items = iter(rng.sample(range(10000, 100000), total))
    approvals: dict[tuple[str, str], str] = {}
    used_brands: set[str] = set()
    products = []
    seq: Counter[str] = Counter()
    for line, rows in CATALOGUE.items():
        for seq_row in rows:
            generic, form, unit, specs, flags = seq_row.split("|")
            brand = None
            if rng.random() < 0.55:
                while brand is None or brand in used_brands:
                    a, b = rng.sample(BRAND_CHARS, 2)
                    brand = a + b
                used_brands.add(brand)
            kind = "Z" if "Z" in flags else "S" if "S" in flags else "H"
            cold = "C" in flags
            for spec in specs.split(";"):
                strength = spec.split("*")[0]
                if (generic, strength) not in approvals:
                    number = None
                    while number is None or number in approvals.values():
                        if rng.random() < 0.6:
                            number = f"国药准字{kind}20{rng.randint(2, 23):02d}{rng.randint(0, 9999):04d}"
                        else:
                            number = f"国药准字{kind}33{rng.randint(20000, 21999):06d}"
                    approvals[generic, strength] = number
                if cold or kind == "S" or form == "注射剂":
                    shelf = 24
                else:
                    shelf = rng.choice((24, 36, 36, 36))
                tier1 = rng.choice((180, 210, 240, 270, 300, 365))
                tier2 = rng.choice([d for d in (120, 150, 180, 210, 240, 270) if d <= tier1])
                storage = (STORAGE_COLD if cold else STORAGE_INJECTION if form == "注射剂"
                           else "密封" if kind == "Z" else rng.choice(STORAGE_PLAIN))
                seq[line] += 1
                products.append(dict(
                    code=f"HK{line}{seq[line]:03d}", generic_name=generic, brand_name=brand, specification=spec,
                    dosage_form=form, base_unit=unit, pack_size=_pack_size(rng, form, unit, spec, cold),
                    approval_number=approvals[generic, strength],
                    gtin=gtin13(f"{GS1_COMPANY_PREFIX}{next(items):05d}"), shelf_life_months=shelf,
                    min_shelf_days_tier1=tier1, min_shelf_days_tier2=tier2, cold_chain=cold,
                    storage_condition=storage, product_line_code=line, active=True,
                ))
    for i in rng.sample(range(len(products)), 5):  # discontinued packs
        products[i]["active"] = False
    return products


def _person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def _mobile(rng: random.Random) -> str:
    return rng.choice(("13", "15", "18", "17", "19")) + f"{rng.randint(0, 9)}{rng.randint(0, 99999999):08d}"


def _plan_distributors(rng: random.Random, provinces: list[ProvincePlan], today: date) -> list[dict]:
    spec = {p[0]: p for p in PROVINCES}
    used_names: set[str] = set()
    tier1: list[dict] = []
    tier2: list[dict] = []

    def company(loc: str, suffixes: tuple[str, ...]) -> str:
        while True:
            name = f"{loc}{rng.choice(TRADE_WORDS)}{rng.choice(suffixes)}"
            if name not in used_names:
                used_names.add(name)
                return name

    def record(code: str, name: str, tier: int, place: Place, unit: CityUnit, abbr: str, parent: str | None):
        return dict(
            code=code, name=name, tier=tier, parent_code=parent, region_code=place.code,
            address=f"{place.full}{rng.choice(unit.roads)}{rng.randint(1, 888)}号",
            contact_name=_person(rng), contact_phone=_mobile(rng), contact_email=f"caigou.{code.lower()}@example.com",
            licence_no=f"{abbr}AA{unit.area_code[-3:]}{rng.randint(0, 9999):04d}",
            licence_expiry=today + timedelta(days=rng.randint(200, 1800)),
            gsp_expiry=today + timedelta(days=rng.randint(120, 1500)) if rng.random() < 0.85 else None,
            status="active",
        )

    for prov in provinces:
        _code, prefix, abbr, n1, n2, _n, _cities = spec[prov.code]
        mine = []
        for i in range(n1):
            unit = prov.units[i % len(prov.units)]
            urban = [p for p in unit.places if p.urban and not p.zone] or unit.places
            taken = {d["region_code"] for d in mine}
            central = urban[: max(2, len(urban) // 2)]
            place = rng.choice([p for p in central if p.code not in taken] or central)
            loc = prov.short if i == 0 or prov.municipality else unit.short
            name = company(loc, ("医药股份有限公司", "医药有限公司", "医药集团有限公司"))
            d = record(f"{prefix}1{i + 1:02d}", name, 1, place, unit, abbr, None)
            d["_unit"] = unit.code
            mine.append(d)
        tier1.extend(mine)
        # one 省直辖县级 unit first (济源, 仙桃), then the other cities by size, the capital last
        pseudo = [u for u in prov.units if u.pseudo][:1]
        order = pseudo + sorted((u for u in prov.units[1:] if u not in pseudo), key=lambda u: -u.weight)
        order += prov.units[:1]
        for i in range(n2):
            unit = order[i % len(order)]
            taken = {d["region_code"] for d in (*mine, *tier2)}
            place = rng.choice([p for p in unit.places if p.code not in taken] or unit.places)
            loc = place.short if not place.urban else unit.short
            suffixes = ("医药有限公司", "医药有限公司", "药业有限公司", "医药贸易有限公司", "医药物流有限公司")
            name = company(loc, suffixes)
            same_city = [d for d in mine if d["_unit"] == unit.code]
            parent = (same_city[0] if same_city else rng.choice(mine))["code"]
            tier2.append(record(f"{prefix}2{i + 1:02d}", name, 2, place, unit, abbr, parent))
    for d in tier1:
        del d["_unit"]
    # a few licences expired or about to expire, a few distributors no longer active; never the demo users' own
    bound = {dc for *_rest, dc in DEMO_USERS if dc}
    pool = [d for d in tier2 if d["code"] not in bound]
    picks = rng.sample(pool, 8)
    for d in picks[:2]:
        d["licence_expiry"] = today - timedelta(days=rng.randint(5, 200))
    for d in picks[2:5]:
        d["licence_expiry"] = today + timedelta(days=rng.randint(5, 55))
    picks[5]["gsp_expiry"] = today - timedelta(days=rng.randint(10, 90))
    picks[6]["status"] = "suspended"
    picks[7]["status"] = "terminated"
    t1_pool = [d for d in tier1 if d["code"] not in bound]
    rng.choice(t1_pool)["licence_expiry"] = today + timedelta(days=rng.randint(20, 58))
    return tier1 + tier2


class _Names:
    """Keeps terminal names and aliases unique across the whole demo."""

    def __init__(self):
        self.taken: set[str] = set()

    def claim(self, name: str) -> bool:
        if name in self.taken:
            return False
        self.taken.add(name)
        return True


def _plan_terminals(rng: random.Random, provinces: list[ProvincePlan]) -> list[dict]:
    names = _Names()
    counts = Counter(p.name for prov in provinces for u in prov.units for p in u.places)
    ambiguous = {n for n, c in counts.items() if c > 1}
    terminals: list[dict] = []
    for prov in provinces:
        n_prov = next(p[5] for p in PROVINCES if p[0] == prov.code)
        chains = CHAINS_COMMON + CHAINS_LOCAL.get(prov.code, ())
        total_w = sum(u.weight for u in prov.units)
        for ui, unit in enumerate(prov.units):
            budget = round(n_prov * unit.weight / total_w)
            made = _unit_terminals(rng, prov, unit, budget, ui == 0, chains, names, ambiguous)
            for t in made:
                t["province"] = prov.code
            terminals.extend(made)
    seq: Counter[str] = Counter()
    for t in terminals:
        seq[t["region_code"]] += 1
        t["code"] = f"T{t['region_code']}{seq[t['region_code']]:03d}"
        t["active"] = rng.random() > 0.015
    return terminals


def _unit_terminals(rng, prov: ProvincePlan, unit: CityUnit, budget: int, capital: bool, chains, names: _Names,
                    ambiguous: set[str]) -> list[dict]:
    out: list[dict] = []
    size = 0 if unit.weight >= 5 else 1 if unit.weight >= 2.5 else 2
    urban = [p for p in unit.places if p.urban] or unit.places
    centre = urban[: max(1, (len(urban) + 1) // 2)]

    def add(name, type_, place: Place, grade=None, aliases=(), road=None) -> bool:
        if not names.claim(name):
            return False
        kept = [a for a in dict.fromkeys(aliases) if a != name and names.claim(a)]
        road = road or rng.choice(unit.roads)
        out.append(dict(name=name, type=type_, grade=grade, region_code=place.code,
                        address=f"{place.full}{road}{rng.randint(1, 999)}号", aliases=kept))
        return True

    if capital:
        for template, alias_templates, university in PROVINCIAL_HOSPITALS:
            if prov.municipality and not university:
                continue
            fill = dict(p=prov.name, s=prov.short)
            aliases = [a.format(**fill) for a in alias_templates if rng.random() < 0.8]
            add(template.format(**fill), "hospital", rng.choice(centre), "三级甲等", aliases)
    if unit.city_hospitals:
        for suffix in CITY_HOSPITAL_SETS[size]:
            grades, alias_templates = CITY_HOSPITALS[suffix]
            aliases = [a.format(s=unit.short) for a in alias_templates if rng.random() < 0.5]
            add(unit.name + suffix, "hospital", rng.choice(centre), grades[size], aliases)

    # county-level public institutions, most important first, up to ~38% of the city's terminals
    candidates = []
    for place in unit.places:
        short_alias = place.name not in ambiguous and place.prefix != place.name
        local = [("人民医院", 0, 1.0), ("中医院", 1, 0.7), ("妇幼保健院", 2, 0.35)]
        if not place.urban:
            local.append(("第二人民医院", 3, 0.2))
        for suffix, prio, p in () if place.zone else local:
            if rng.random() < p:
                candidates.append((prio, rng.random(), "hospital", place, suffix, short_alias))
        for _ in range(rng.randint(1, 3)):
            candidates.append((4, rng.random(), "clinic" if place.urban else "hospital", place, None, False))
        if rng.random() < 0.3 and not place.zone:
            candidates.append((5, rng.random(), "other", place, "疾病预防控制中心", False))
    candidates.sort(key=lambda c: (c[0], c[1]))
    limit = max(int(budget * 0.32), len(out) + sum(1 for c in candidates if c[0] == 0))
    for prio, _r, type_, place, suffix, short_alias in candidates:
        if prio > 0 and len(out) >= limit:
            break
        if suffix in ("人民医院", "中医院", "妇幼保健院", "第二人民医院"):
            if place.urban:
                grade = rng.choice(("二级甲等", "二级甲等", "三级乙等", "三级甲等") if size == 0
                                   else ("二级甲等", "二级甲等", "二级乙等", "三级乙等"))
            else:
                grade = rng.choice(("二级甲等", "二级甲等", "二级甲等", "三级乙等", "二级乙等"))
            if suffix == "妇幼保健院":
                grade = rng.choice(("二级甲等", "二级乙等", "二级"))
            aliases = []
            if short_alias and rng.random() < 0.3:
                aliases.append(place.name + suffix)
            if not place.urban and suffix == "人民医院" and rng.random() < 0.25:
                aliases.append(place.name + "医院" if place.name.endswith("县") else place.short + "市医院")
            add(place.prefix + suffix, "hospital", place, grade, aliases)
        elif type_ == "clinic":  # a community health service centre in a city district
            for _ in range(5):
                if add(f"{place.prefix}{rng.choice(STREETS)}街道社区卫生服务中心", "clinic", place):
                    break
        elif type_ == "hospital":  # a township health centre in a county
            for _ in range(5):
                if add(f"{place.prefix}{rng.choice(TOWNS)}镇卫生院", "hospital", place,
                       rng.choice(("一级", "一级", "一级", "未定级"))):
                    break
        else:
            add(place.prefix + suffix, "other", place)

    # the rest: pharmacies, private clinics, private hospitals and others, more of them in city districts
    weights = [0.6 if p.zone else 1.5 if p.urban else 1.0 for p in unit.places]
    attempts = 0
    while len(out) < budget and attempts < budget * 20:
        attempts += 1
        place = rng.choices(unit.places, weights)[0]
        loc = unit.short if place.urban else place.short
        roll = rng.random()
        if roll < 0.60:
            _pharmacy(rng, add, place, loc, unit, chains)
        elif roll < 0.88:
            _clinic(rng, add, place, unit)
        elif roll < 0.92:
            word = rng.choice(TRADE_WORDS)
            kind = rng.choice(("医院", "医院", "中西医结合医院", "骨科医院", "妇产医院", "康复医院", "眼科医院"))
            add(f"{unit.short}{word}{kind}", "hospital", place, rng.choice(("二级", "一级", "未定级", "未定级")))
        else:
            word, roll = rng.choice(TRADE_WORDS), rng.random()
            if roll < 0.55:
                add(f"{place.prefix}{word}{rng.choice(('养老院', '护理院', '老年公寓'))}", "other", place)
            elif roll < 0.8:
                add(f"{unit.short}{word}健康体检中心", "other", place)
            else:
                add(f"{unit.short}{word}{rng.choice(('实业有限公司', '机械有限公司', '纺织有限公司'))}医务室",
                    "other", place)
    return out


def _pharmacy(rng, add, place: Place, loc: str, unit: CityUnit, chains) -> None:
    roll = rng.random()
    road = rng.choice(unit.roads)
    if roll < 0.62:
        brand = rng.choice(chains)
        aliases = [f"{brand}{loc}{road}店"] if rng.random() < 0.06 else []
        add(f"{brand}({loc}{road}店)", "pharmacy", place, aliases=aliases, road=road)
    elif roll < 0.82:
        word = rng.choice(TRADE_WORDS)
        aliases = [f"{unit.short}{word}大药房"] if rng.random() < 0.15 else []
        add(f"{unit.short}{word}大药房有限公司", "pharmacy", place, aliases=aliases, road=road)
    else:
        hall = rng.choice(HALL_WORDS)
        aliases = [f"{place.short}{hall}堂"] if rng.random() < 0.1 else []
        add(f"{place.prefix}{hall}堂药店", "pharmacy", place, aliases=aliases, road=road)


def _clinic(rng, add, place: Place, unit: CityUnit) -> None:
    roll = rng.random()
    if roll < 0.55:
        kind = rng.choice(("诊所", "诊所", "中医诊所", "内科诊所", "口腔诊所"))
        add(f"{place.prefix}{_person(rng)}{kind}", "clinic", place)
    elif roll < 0.75:
        add(f"{unit.short}{rng.choice(TRADE_WORDS)}门诊部", "clinic", place)
    elif place.urban:
        add(f"{place.prefix}{rng.choice(STREETS)}社区卫生服务站", "clinic", place)
    else:
        add(f"{place.prefix}{rng.choice(TOWNS)}镇{rng.choice(TOWNS)}村卫生室", "clinic", place)


def _target_score(t: dict, line: str) -> float:
    if t["type"] == "hospital":
        return HOSPITAL_SCORE.get(t["grade"] or "未定级", 1.5)
    if t["type"] == "clinic":
        return 3.0 if t["name"].endswith("社区卫生服务中心") else 1.0
    if t["type"] == "pharmacy":
        chain = "(" in t["name"]
        if line in RX_LINES:
            return 1.5 if chain else 0.7
        return 5.0 if chain else 2.0
    return 0.3


def _plan_target_lists(rng: random.Random, provinces: list[ProvincePlan], terminals: list[dict],
                       year: int) -> list[dict]:
    by_province: dict[str, list[dict]] = {}
    for t in terminals:
        if t["active"]:
            by_province.setdefault(t["province"], []).append(t)
    out = []
    for line, line_name in PRODUCT_LINES:
        for prov in provinces:
            cands = by_province.get(prov.code, [])
            n = min(len(cands), max(150, min(420, int(len(cands) * rng.uniform(0.32, 0.45)))))
            keyed = [(rng.random() ** (1.0 / _target_score(t, line)), t["code"]) for t in cands]
            chosen = sorted(code for _k, code in sorted(keyed, reverse=True)[:n])
            out.append(dict(code=f"TL{year}-{line}-{prov.code}", name=f"{year}年{prov.name}{line_name}目标终端",
                            product_line_code=line, region_code=prov.region_code, year=year,
                            terminal_codes=chosen))
    return out


# -- writing ----------------------------------------------------------------------------------------------------
def _count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def _already_seeded() -> bool:
    return any(
        db.session.execute(select(model.id).where(model.code == code)).first() is not None
        for model, code in ((StockLocation, MARKER_LOCATION), (Product, "HKCV001"), (Distributor, "ZJ101"))
    )


# -- extensions: the domain packages' demo data ---------------------------------------------------------------------
DemoExtension = Callable[[int, date], str]
DEMO_EXTENSIONS: list[DemoExtension] = []


def register_demo_extension(fn: DemoExtension) -> DemoExtension:
    """Have :func:`seed_demo` call ``fn(seed, business_date)`` after the master data, in registration order.

    The shell knows no domain package, so each registers its own demo data from its ``init_app`` (stock, prices,
    agreements ...). ``fn`` adds and flushes like any service, must be deterministic for the seed and date, and
    must itself check whether its data is already there and then add nothing (it runs on every ``seed-demo``). It
    returns printable summary lines (plain text, no gettext). Registering the same function twice is a no-op.
    """
    if fn not in DEMO_EXTENSIONS:
        DEMO_EXTENSIONS.append(fn)
    return fn


def _run_extensions(seed: int, today: date) -> list[str]:
    lines: list[str] = []
    for fn in DEMO_EXTENSIONS:
        lines += [line for line in (fn(seed, today) or "").splitlines() if line.strip()]
    return lines


def seed_demo(regions_dir: str, seed: int = DEFAULT_SEED) -> str:
    """Load the regions (when there are none) and the demo channel, create the demo users, then run the registered
    extensions (:func:`register_demo_extension`) for the domain packages' demo data.

    Deterministic for a given seed and business date. Idempotent: on a database that already holds the demo it adds
    nothing (missing demo users excepted, and an extension's data that is missing). Adds and flushes, never commits.
    Returns a printable summary ending with the logins ("username / password (role)"). Raises RegionImportError when
    the region files are unusable and ValidationFailed / UserError if the demo clashes with existing data.
    """
    with acting_as(Actor(None, "seed-demo")):
        return _seed(regions_dir, seed)


def _seed(regions_dir: str, seed: int) -> str:
    started = time.perf_counter()
    out: list[str] = []
    if _count(Region) == 0:
        from app.masterdata.regions import import_regions

        result = import_regions(regions_dir)
        out.append(f"regions: {result.created} loaded from {regions_dir}")
    if _already_seeded():
        out.insert(0, "Demo master data already present: nothing added.")
        users = _ensure_users(_demo_users_from_db())
        out += ["  " + line for line in _run_extensions(seed, clock.today())]
        return "\n".join(out + users)

    plan = build_plan(load_regions_info(), seed)
    region_ids = dict(db.session.execute(select(Region.code, Region.id)).all())
    lines = _write_product_lines()
    _write_products(plan, lines)
    _write_locations(plan, region_ids)
    _write_distributors(plan)
    terminal_ids = _write_terminals(plan, region_ids)
    entries = _write_target_lists(plan, lines, region_ids, terminal_ids)
    user_lines = _ensure_users(plan.users)

    dists = plan.distributors
    today = plan.today
    expired = sum(1 for d in dists if d["licence_expiry"] < today)
    expiring = sum(1 for d in dists if today <= d["licence_expiry"] <= today + timedelta(days=60))
    types = Counter(t["type"] for t in plan.terminals)
    out.insert(0, f"Demo data for {MANUFACTURER} (seed {seed}, business date {today.isoformat()}):")
    out += [
        f"products: {len(plan.products)} in {len(PRODUCT_LINES)} product lines "
        f"({sum(p['cold_chain'] for p in plan.products)} cold chain, "
        f"{sum(not p['active'] for p in plan.products)} inactive)",
        f"distributors: {sum(d['tier'] == 1 for d in dists)} tier 1, {sum(d['tier'] == 2 for d in dists)} tier 2 "
        f"({expired} licences expired, {expiring} expiring within 60 days)",
        f"terminals: {len(plan.terminals)} in {len(PROVINCES)} provinces ({types['hospital']} hospitals, "
        f"{types['pharmacy']} pharmacies, {types['clinic']} clinics, {types['other']} other; "
        f"{sum(bool(t['aliases']) for t in plan.terminals)} with aliases)",
        f"target lists: {len(plan.target_lists)} ({today.year}) with {entries} target terminals",
        f"stock locations: {len(plan.locations)} of the manufacturer (incl. quarantine), "
        f"{len(dists)} distributor warehouses",
        *_run_extensions(seed, today),
        f"took {time.perf_counter() - started:.1f} s",
    ]
    return "\n".join(out[:1] + ["  " + line for line in out[1:]] + user_lines)


def _demo_users_from_db() -> list[dict]:
    """The demo users, for a database seeded earlier (the distributor users' names come from their distributor)."""
    names = dict(db.session.execute(
        select(Distributor.code, Distributor.name).where(Distributor.code.in_([u[4] for u in DEMO_USERS if u[4]]))
    ).all())
    return [dict(username=u, password=p, role=role, display_name=dn or names.get(dc, u), distributor_code=dc)
            for u, p, role, dn, dc in DEMO_USERS]


def _ensure_users(users: list[dict]) -> list[str]:
    """Create the demo users that do not exist yet; return the login lines."""
    from app.auth.security import verify_password
    from app.auth.services import create_user, find_user

    lines = ["Logins:"]
    for u in users:
        user = find_user(u["username"])
        note = ""
        if user is None:
            create_user(u["username"], u["password"], u["role"], u["display_name"], u["distributor_code"])
        elif not verify_password(user, u["password"]):
            note = " [password changed since seeding]"
        role = u["role"] if not u["distributor_code"] else f"{u['role']} {u['distributor_code']} {u['display_name']}"
        lines.append(f"  {u['username']} / {u['password']} ({role}){note}")
    return lines


def _write_product_lines() -> dict[str, int]:
    existing = {pl.code: pl for pl in db.session.execute(select(ProductLine)).scalars()}
    for code, name in PRODUCT_LINES:
        if code not in existing:
            existing[code] = ProductLine(code=code, name=name)
            db.session.add(existing[code])
    db.session.flush()
    return {code: existing[code].id for code, _name in PRODUCT_LINES}


def _write_products(plan: DemoPlan, lines: dict[str, int]) -> None:
    for p in plan.products:
        values = {k: v for k, v in p.items() if k != "product_line_code"}
        db.session.add(Product(product_line_id=lines[p["product_line_code"]], **values))
    db.session.flush()


def _write_locations(plan: DemoPlan, region_ids: dict[str, int]) -> None:
    for loc in plan.locations:
        db.session.add(StockLocation(code=loc["code"], name=loc["name"], kind=LocationKind(loc["kind"]).value,
                                     region_id=region_ids.get(loc["region_code"]), address=loc["address"],
                                     note=loc["note"]))
    db.session.flush()


def _write_distributors(plan: DemoPlan) -> None:
    """Through the master-data service, so each distributor is validated and gets its warehouse location."""
    from app.masterdata import services
    from app.masterdata.resources import distributors

    refs = services._RefCache()  # resolve region and supplier codes once, not per distributor
    for d in plan.distributors:
        raw = {k: v for k, v in d.items() if v is not None}
        refs.add(services.save_record(distributors, raw, refs=refs))


def _write_terminals(plan: DemoPlan, region_ids: dict[str, int]) -> dict[str, int]:
    ids: dict[str, int] = {}
    for start in range(0, len(plan.terminals), BATCH):
        batch = []
        for t in plan.terminals[start:start + BATCH]:
            obj = Terminal(code=t["code"], name=t["name"], type=t["type"], grade=t["grade"],
                           region_id=region_ids[t["region_code"]], address=t["address"], active=t["active"])
            if t["aliases"]:
                obj.set_aliases(t["aliases"])
            batch.append(obj)
        db.session.add_all(batch)
        db.session.flush()
        ids.update((obj.code, obj.id) for obj in batch)
    return ids


def _write_target_lists(plan: DemoPlan, lines: dict[str, int], region_ids: dict[str, int],
                        terminal_ids: dict[str, int]) -> int:
    lists = []
    for tl in plan.target_lists:
        lists.append(TargetList(code=tl["code"], name=tl["name"], product_line_id=lines[tl["product_line_code"]],
                                region_id=region_ids[tl["region_code"]], year=tl["year"], active=True))
    db.session.add_all(lists)
    db.session.flush()
    rows = [{"target_list_id": obj.id, "terminal_id": terminal_ids[code]}
            for obj, tl in zip(lists, plan.target_lists, strict=True) for code in tl["terminal_codes"]]
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(TargetListEntry), rows[start:start + 5000])
    return len(rows)
